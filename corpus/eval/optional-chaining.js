{ const o = { a: { b: null } }; [o?.a?.b?.c, o.x?.y, o.a.b ?? 'dflt', o.f?.()] }
