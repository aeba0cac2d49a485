{ const o = { *[Symbol.iterator]() { yield 1; yield 2 } }; [...o, Symbol.for('k').description] }
