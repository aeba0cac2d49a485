// No interrupt check: seconds past a 100 ms timeout.
JSON.stringify(new Uint8ClampedArray(3e7))
