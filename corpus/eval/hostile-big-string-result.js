'ab'.repeat(1 << 20)
