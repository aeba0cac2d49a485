// No interrupt check: 2^53 steps, past any timeout.
Array.prototype.indexOf.call({length: 2**53 - 1}, 1)
