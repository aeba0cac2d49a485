Atomics.wait(new Int32Array(new SharedArrayBuffer(16)), 0, 0)
