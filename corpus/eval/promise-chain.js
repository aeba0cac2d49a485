Promise.resolve(1).then(x => x + 1).then(x => { throw new Error('late ' + x) }).catch(e => e.message)
