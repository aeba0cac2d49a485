{ const a = [1]; a.push(a); a }
