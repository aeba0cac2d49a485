// WebAssembly memories: 3 GiB under a small heap limit.
const kept = []; for (let i = 0; i < 3; i++) { const m = new WebAssembly.Memory({initial: 16384}); new Uint8Array(m.buffer).fill(1); kept.push(m) } kept.length
