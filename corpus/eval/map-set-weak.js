{ const m = new Map([[1, 'a'], ['1', 'b']]); const s = new Set([1, 1, 2]); const w = new WeakMap([[{}, 1]]); [m.size, s.size, m.get('1'), w instanceof WeakMap] }
