[2n ** 100n, -(2n ** 64n) + 1n, BigInt.asUintN(8, 257n), 10n / 3n, typeof 1n]
