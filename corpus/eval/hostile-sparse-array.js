{ const a = []; a[1e6] = 1; a }
