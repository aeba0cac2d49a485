// A small tour: the completion value of the last expression is the result.
class Point {
  constructor(x, y) { this.x = x; this.y = y; }
  get length() { return Math.hypot(this.x, this.y); }
}
const p = new Point(3, 4);
const primes = [...Array(30).keys()].filter(n => n > 1 && [...Array(n).keys()].slice(2).every(d => n % d));
({
  point: p,
  length: p.length,
  primes,
  big: 2n ** 80n,
  when: new Date(Date.UTC(2024, 0, 1)),
  bytes: new Uint8Array([104, 105]),
  json: JSON.parse('{"nested": [true, null, 1.5]}'),
});
