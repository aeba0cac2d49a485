{ const o = {}; Reflect.defineProperty(o, 'x', { get: () => 3, enumerable: true }); Object.defineProperty(o, 'hidden', { value: 1 }); o }
