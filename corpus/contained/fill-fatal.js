// A builtin that keeps allocating without checking for termination.
new Array(1.2e8).fill(0)
