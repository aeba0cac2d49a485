JSON.parse('{"a":1,"b":[2,3]}', (k, v) => typeof v === 'number' ? v * 10 : v)
