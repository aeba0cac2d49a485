// No interrupt check.
String.raw({raw: {length: 2**31}}, 0)
