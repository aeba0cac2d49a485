({ get boom() { throw new Error('getter') } })
