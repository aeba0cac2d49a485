(function () { try { throw new RangeError('r') } catch (e) { return e.name } finally { globalThis.__fin = 1 } })()
