{ let out = []; (async () => { out.push(await 1); out.push(await Promise.resolve(2)) })(); out }
