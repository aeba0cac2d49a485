{ class B { constructor(v) { this.v = v } m() { return 'B' } } class C extends B { constructor() { super(7) } m() { return super.m() + 'C' } } const c = new C; [c.v, c.m(), c instanceof B] }
