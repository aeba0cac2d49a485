{ function* g() { let x = yield 1; while (x < 5) x = yield x * 2 } const it = g(); [it.next().value, it.next(2).value, it.next(4).value, it.next(9).done] }
