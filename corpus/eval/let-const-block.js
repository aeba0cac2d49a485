{ let a = 1; const b = 2; a + b }
