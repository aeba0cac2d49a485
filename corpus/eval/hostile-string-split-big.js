'abc'.repeat(1e6).split('')
