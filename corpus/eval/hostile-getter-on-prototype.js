{ Object.defineProperty(Object.prototype, 'then', { get() { throw new Error('then') }, configurable: true }); const r = Promise.resolve(1); delete Object.prototype.then; r }
