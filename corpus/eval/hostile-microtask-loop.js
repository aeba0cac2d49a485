{ const again = () => Promise.resolve().then(again); again(); 1 }
