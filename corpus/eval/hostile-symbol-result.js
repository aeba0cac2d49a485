Symbol('not convertible')
