{ const { a, b: [x, , y = 5], ...rest } = { a: 1, b: [2, 3], c: 4, d: 5 }; [a, x, y, rest] }
