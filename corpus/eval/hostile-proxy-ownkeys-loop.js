new Proxy({}, { ownKeys() { for (;;) {} } })
