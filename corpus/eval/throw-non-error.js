throw { code: 42, message: 'plain object' }
