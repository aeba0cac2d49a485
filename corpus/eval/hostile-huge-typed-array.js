new Float64Array(2 ** 30)
