Promise.resolve().then(() => { for (;;) {} }); while (true) {}
