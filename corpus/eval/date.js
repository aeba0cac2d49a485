[new Date(0), new Date(8.64e15 + 1), new Date('2020-02-29T12:00:00Z').getUTCDay(), Date.UTC(2000, 0)]
