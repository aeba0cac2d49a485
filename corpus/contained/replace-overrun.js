// No interrupt check.
'x'.repeat(2**27).replace(/x/g, 'yy')
