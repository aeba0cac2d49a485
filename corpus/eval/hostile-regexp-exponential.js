/(x+x+)+y/.exec('x'.repeat(30))
