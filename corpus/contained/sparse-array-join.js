// A sparse array of length 2^32-1 turned into a string: Array.prototype.join
// walks every index without checking for termination (V8 10.2).
var a = []; a[4294967294] = 1; a * 2;
