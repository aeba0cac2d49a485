{ let a = null, b = 0, c = 1; a ??= 'x'; b ||= 'y'; c &&= 'z'; [a, b, c] }
