{ const f = (...xs) => xs.reduce((s, x) => s + x, 0); f(...[1, 2, 3], ...new Set([4, 5])) }
