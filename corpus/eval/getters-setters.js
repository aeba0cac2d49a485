{ const o = { _v: 1, get v() { return this._v * 10 }, set v(x) { this._v = x } }; o.v = 5; o.v }
