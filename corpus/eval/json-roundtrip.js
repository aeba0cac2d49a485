JSON.parse(JSON.stringify({ a: [1, 'two', null, true], b: { c: 1e21, d: -0 } }))
