{ class S { static value; static { S.value = [1, 2, 3].map(x => x * 2) } } S.value }
