// V8 10.2 fatal error after ~95 s in-process (invalid array length).
Array.from({length: 1e9})
