new Uint16Array([1, 2, 65535, 65536]).subarray(1, 3)
