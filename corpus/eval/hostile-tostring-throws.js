({ toString() { throw new Error('no') } }) + ''
