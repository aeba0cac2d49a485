{ const b = new ArrayBuffer(16); const f = new Float64Array(b); f[0] = Math.PI; const u = new Uint8Array(b, 0, 8); [Array.from(u), new DataView(b).getFloat64(0, true)] }
