function named() {}
