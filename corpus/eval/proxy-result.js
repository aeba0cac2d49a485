new Proxy({ a: 1, b: 2 }, { get: (t, k) => k === 'b' ? 'trapped' : t[k] })
