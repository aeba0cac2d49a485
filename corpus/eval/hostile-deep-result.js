{ let v = []; for (let i = 0; i < 5000; i++) v = [v]; v }
