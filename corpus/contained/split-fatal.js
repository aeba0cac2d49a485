// V8 10.2 fatal error: invalid size.
'x'.repeat(2**29 - 24).split('')
