{ Object.freeze(Array.prototype); Object.freeze(Object.prototype); [1].map(x => x + 1) }
