{ const tag = (s, ...v) => s.raw.join('|') + v.join(','); tag`a${1}b${2}c\n` }
