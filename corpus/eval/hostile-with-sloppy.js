with ({ a: 5 }) { a * 2 }
