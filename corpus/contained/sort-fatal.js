// V8 10.2 fatal error (abort) in-process.
Array.prototype.sort.call({length: 2**27})
