//! Deterministic programs for the differential targets (`jit_diff`,
//! `quickjs_diff`): a factory that makes a `target` function, the data it
//! closes over, and the argument lists to call it with.
//!
//! Unlike [`jsgen`](super::jsgen) (anything that parses), these programs must
//! mean the same in every correct engine and tier: no randomness, clocks,
//! locales or `Intl`, no unbounded loops or recursion (the stack depth
//! differs between tiers), no features newer than V8 10.2, no writes to
//! anything shared between runs (globals, builtins, prototypes: each run
//! makes its data afresh), caught errors reduced to their names (message
//! texts differ between engines). What they do contain is what optimising
//! compilers get wrong: type feedback that changes between calls and loop
//! iterations, polymorphic helpers, element-kind transitions (Smi, double,
//! object, holey), indices at the edges, `arguments` and rest parameters,
//! closures created in loops, `try`/`catch` in optimised code, BigInt
//! arithmetic, the `Math` and typed-array builtins TurboFan inlines, and
//! deoptimisation points ([`DEOPT_POINT`]).

use std::fmt::Write;

use arbitrary::{Arbitrary, Result, Unstructured};

/// Where V8 is told to deoptimise the running function. Engines without
/// V8's intrinsics run [`Program::portable_source`], where it is a no-op.
pub const DEOPT_POINT: &str = "%DeoptimizeNow()";

/// `Math` functions whose results the spec leaves implementation-approximated
/// (engines may differ in the last bits); `**` is one too.
pub const APPROXIMATED_MATH: &[&str] = &[
    "Math.pow",
    "Math.exp",
    "Math.log",
    "Math.sin",
    "Math.cos",
    "Math.tan",
    "Math.atan2",
    "Math.cbrt",
    "Math.expm1",
    "Math.log1p",
    "Math.hypot",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "-0",
    "0.5",
    "1.5",
    "-1.5",
    "NaN",
    "Infinity",
    "-Infinity",
    "31",
    "32",
    "255",
    "1073741823",
    "1073741824",
    "-1073741825",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9007199254740991",
    "9007199254740992",
    "1e21",
    "5e-324",
    "1.7976931348623157e308",
    "0.1",
];

const STRINGS: &[&str] = &[
    "''",
    "'a'",
    "'7'",
    "'-0'",
    "' 1 '",
    "'x'",
    "'0x10'",
    "'\\u00e9'",
];

const BIGINTS: &[&str] = &["0n", "1n", "(-1n)", "7n", "(2n ** 64n)", "(-(2n ** 63n))"];

/// Loop trip counts: none, once, a few, and enough to pass the Smi/array
/// growth steps (never enough for on-stack replacement to kick in at
/// random: optimisation is the driver's decision).
const TRIPS: &[&str] = &["0", "1", "2", "3", "8", "17", "33"];

/// Initial contents that give each element kind: packed Smi, packed double,
/// packed object, holey, and empty.
const ARRAYS: &[&str] = &[
    "[1, 2, 3]",
    "[1.5, -0, 2.5]",
    "[1, 'a', null]",
    "[1, , 3]",
    "[]",
    "new Array(4)",
    "[NaN, 0, -1]",
];

const OBJECTS: &[&str] = &[
    "{ x: 1, y: 2 }",
    "{ x: 1.5, y: 'b' }",
    "{ y: 2, x: 1 }",
    "{ 0: 'zero', x: -0 }",
    "{}",
];

const TYPED_ARRAYS: &[&str] = &[
    "Int32Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int8Array",
    "Uint32Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
];

const PROPERTIES: &[&str] = &["x", "y", "z", "length"];

/// Indices read: at the edges of small arrays and of the index range.
const INDICES: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "4",
    "7",
    "0x7fffffff",
    "4294967294",
    "1.5",
];

/// Indices written: at the edges of small arrays only. A write far out
/// makes a length that array builtins then walk element by element for
/// minutes, without checking for termination (V8 10.2).
const WRITTEN_INDICES: &[&str] = &["0", "1", "2", "3", "-1", "4", "7", "1.5"];

const BINARY: &[&str] = &[
    "+", "-", "*", "/", "%", "**", "&", "|", "^", "<<", ">>", ">>>", "==", "===", "!=", "!==", "<",
    ">", "<=", ">=", "&&", "||", "??",
];

const UNARY: &[&str] = &["-", "+", "~", "!", "typeof "];

const MATH_UNARY: &[&str] = &[
    "Math.abs",
    "Math.floor",
    "Math.ceil",
    "Math.round",
    "Math.trunc",
    "Math.sign",
    "Math.fround",
    "Math.sqrt",
    "Math.clz32",
    "Math.exp",
    "Math.log",
    "Math.sin",
    "Math.cos",
    "Math.cbrt",
];
const MATH_BINARY: &[&str] = &[
    "Math.max",
    "Math.min",
    "Math.imul",
    "Math.pow",
    "Math.atan2",
];

/// Array methods with no callback, after `arr`. Their order stays (inputs
/// pick by index; the regression corpus would change meaning). A result
/// that can hold the array, or grows with it, gives a length instead:
/// stored back, `fill`'s and `reverse`'s arrays make a cycle, which V8 joins
/// as '' (as browsers do) and QuickJS recurses into until its stack
/// overflows (quickjs_diff's first finding); `join`'s string and `flat`'s
/// array double at each store, and a program doing that a few dozen times
/// ran QuickJS's builtins, which do not look at its deadline, for 10 s
/// into its memory limit (its second, a `slow-unit`).
const ARRAY_METHODS: &[&str] = &[
    ".length",
    ".indexOf(E)",
    ".includes(E)",
    ".lastIndexOf(E)",
    ".at(E)",
    ".slice(E)",
    ".join().length",
    ".concat(E)",
    ".fill(E, 1).length",
    ".reverse()[0]",
    ".flat().length",
    ".keys().next().value",
];

/// Bounds that keep programs small and generation shallow.
const MAX_EXPR_DEPTH: u32 = 4;
const MAX_STMT_DEPTH: u32 = 3;
const MAX_SOURCE_LEN: usize = 8 << 10;

/// A generated program: `source` is a function expression; called, it
/// returns `[target, inputs]`.
#[derive(Debug, Clone)]
pub struct Program {
    pub source: String,
}

impl Program {
    /// The program for engines without V8's intrinsics.
    pub fn portable_source(&self) -> String {
        self.source.replace(DEOPT_POINT, "void 0")
    }

    /// Whether it calls functions the spec lets engines approximate.
    pub fn uses_approximated_math(&self) -> bool {
        self.source.contains("**") || APPROXIMATED_MATH.iter().any(|f| self.source.contains(f))
    }
}

impl<'a> Arbitrary<'a> for Program {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut generator = Generator {
            u,
            out: String::new(),
            locals: Vec::new(),
            counters: Vec::new(),
            arrays: Vec::new(),
            objects: Vec::new(),
            typed: Vec::new(),
            helpers: Vec::new(),
            next_id: 0,
            expr_depth: 0,
            stmt_depth: 0,
        };
        generator.program()?;
        Ok(Program {
            source: generator.out,
        })
    }
}

struct Generator<'u, 'a> {
    u: &'u mut Unstructured<'a>,
    out: String,
    /// Assignable names in scope: parameters, `let`s, `acc`.
    locals: Vec<String>,
    /// Names only read: loop counters (a write could make a loop endless).
    counters: Vec<String>,
    arrays: Vec<String>,
    objects: Vec<String>,
    typed: Vec<String>,
    /// Helper functions and their parameter counts.
    helpers: Vec<(String, usize)>,
    next_id: u32,
    expr_depth: u32,
    stmt_depth: u32,
}

impl Generator<'_, '_> {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    fn emit(&mut self, text: &str) {
        self.out.push_str(text);
    }

    fn full(&self) -> bool {
        self.out.len() > MAX_SOURCE_LEN
    }

    fn pick(&mut self, words: &[&'static str]) -> Result<&'static str> {
        Ok(*self.u.choose(words)?)
    }

    fn program(&mut self) -> Result<()> {
        self.emit("(function () {\n");
        if self.u.arbitrary()? {
            self.emit("'use strict';\n");
        }
        // The data the target closes over, made afresh by every run.
        for _ in 0..self.u.int_in_range(1..=2)? {
            let name = self.fresh("arr");
            let init = self.pick(ARRAYS)?;
            writeln!(self.out, "const {name} = {init};").unwrap();
            self.arrays.push(name);
        }
        if self.u.arbitrary()? {
            let name = self.fresh("obj");
            let init = self.pick(OBJECTS)?;
            writeln!(self.out, "const {name} = {init};").unwrap();
            self.objects.push(name);
        }
        if self.u.arbitrary()? {
            let name = self.fresh("ta");
            let kind = self.pick(TYPED_ARRAYS)?;
            writeln!(self.out, "const {name} = new {kind}(4);").unwrap();
            self.typed.push(name);
        }
        self.emit("let acc = 0;\n");
        self.locals.push("acc".into());
        // Helpers: called from the target with changing argument types.
        for _ in 0..self.u.int_in_range(0..=2)? {
            let name = self.fresh("h");
            let arity = self.u.int_in_range(1..=2)?;
            write!(self.out, "function {name}(").unwrap();
            let params = self.parameters(arity);
            self.emit(") {\n");
            let mark = self.locals.len();
            self.locals.extend(params);
            self.body(2)?;
            self.locals.truncate(mark);
            self.emit("}\n");
            self.helpers.push((name, arity));
        }
        self.emit("function target(");
        let params = self.parameters(3);
        self.emit(") {\n");
        let mark = self.locals.len();
        self.locals.extend(params);
        self.body(8)?;
        self.locals.truncate(mark);
        self.emit("}\nreturn [target, [");
        for n in 0..self.u.int_in_range(1..=4)? {
            if n > 0 {
                self.emit(", ");
            }
            self.emit("[");
            for m in 0..3 {
                if m > 0 {
                    self.emit(", ");
                }
                self.argument()?;
            }
            self.emit("]");
        }
        self.emit("]];\n})");
        Ok(())
    }

    fn parameters(&mut self, count: usize) -> Vec<String> {
        let names: Vec<String> = (0..count).map(|_| self.fresh("p")).collect();
        self.emit(&names.join(", "));
        names
    }

    /// Statements, then `return` of an expression.
    fn body(&mut self, max: u32) -> Result<()> {
        for _ in 0..self.u.int_in_range(0..=max)? {
            self.statement()?;
        }
        self.emit("return ");
        self.expr()?;
        self.emit(";\n");
        Ok(())
    }

    /// An argument the driver passes: a literal of any type, fresh per run.
    fn argument(&mut self) -> Result<()> {
        match self.u.choose_index(6)? {
            0 | 1 => {
                let n = self.pick(NUMBERS)?;
                self.emit(n);
            }
            2 => {
                let s = self.pick(STRINGS)?;
                self.emit(s);
            }
            3 => {
                let a = self.pick(ARRAYS)?;
                self.emit(a);
            }
            4 => {
                let o = self.pick(OBJECTS)?;
                write!(self.out, "({o})").unwrap();
            }
            _ => {
                let atom = self.pick(&["undefined", "null", "true", "1n", "-7n"])?;
                self.emit(atom);
            }
        }
        Ok(())
    }

    fn block(&mut self, max: u32) -> Result<()> {
        let mark = self.locals.len();
        self.emit("{\n");
        for _ in 0..self.u.int_in_range(0..=max)? {
            self.statement()?;
        }
        self.emit("}\n");
        self.locals.truncate(mark);
        Ok(())
    }

    fn statement(&mut self) -> Result<()> {
        if self.stmt_depth >= MAX_STMT_DEPTH || self.full() {
            return self.simple_statement();
        }
        self.stmt_depth += 1;
        match self.u.choose_index(8)? {
            0 | 1 => self.simple_statement()?,
            2 => {
                let i = self.fresh("i");
                let trips = self.pick(TRIPS)?;
                write!(self.out, "for (let {i} = 0; {i} < {trips}; {i}++) ").unwrap();
                self.counters.push(i);
                self.block(3)?;
                self.counters.pop();
            }
            3 => {
                self.emit("if (");
                self.expr()?;
                self.emit(") ");
                self.block(2)?;
                if self.u.arbitrary()? {
                    self.emit("else ");
                    self.block(2)?;
                }
            }
            4 => {
                // Caught errors become their names only: messages differ
                // between engines.
                self.emit("try ");
                self.block(3)?;
                let e = self.fresh("e");
                writeln!(
                    self.out,
                    "catch ({e}) {{ acc = ({e} instanceof Error) ? {e}.name : typeof {e}; }}"
                )
                .unwrap();
            }
            5 => self.element_statement()?,
            6 => {
                // Closures made in a loop, each capturing its own binding.
                let fs = self.fresh("fs");
                let i = self.fresh("i");
                let trips = self.pick(TRIPS)?;
                write!(
                    self.out,
                    "const {fs} = [];\nfor (let {i} = 0; {i} < {trips}; {i}++) {{ {fs}.push(() => "
                )
                .unwrap();
                self.counters.push(i);
                self.expr()?;
                self.counters.pop();
                write!(
                    self.out,
                    "); }}\nacc = {fs}.length > 0 ? {fs}[{fs}.length - 1]() : acc;\n"
                )
                .unwrap();
            }
            _ => {
                writeln!(self.out, "{DEOPT_POINT};").unwrap();
            }
        }
        self.stmt_depth -= 1;
        Ok(())
    }

    fn simple_statement(&mut self) -> Result<()> {
        if self.u.arbitrary()? {
            let name = self.fresh("v");
            write!(self.out, "let {name} = ").unwrap();
            self.expr()?;
            self.emit(";\n");
            self.locals.push(name);
        } else {
            let target = self.u.choose(&self.locals)?.clone();
            let op = self.pick(&["=", "+=", "-=", "|=", "*=", "??="])?;
            write!(self.out, "{target} {op} ").unwrap();
            self.expr()?;
            self.emit(";\n");
        }
        Ok(())
    }

    /// Writes that change element kinds, shapes and lengths.
    fn element_statement(&mut self) -> Result<()> {
        let choice = self.u.choose_index(6)?;
        if choice == 4 && !self.objects.is_empty() {
            let o = self.u.choose(&self.objects)?.clone();
            let p = self.pick(PROPERTIES)?;
            if self.u.arbitrary()? {
                writeln!(self.out, "delete {o}.{p};").unwrap();
            } else {
                write!(self.out, "{o}.{p} = ").unwrap();
                self.expr()?;
                self.emit(";\n");
            }
            return Ok(());
        }
        if choice == 5 && !self.typed.is_empty() {
            let t = self.u.choose(&self.typed)?.clone();
            let index = self.pick(WRITTEN_INDICES)?;
            write!(self.out, "{t}[{index}] = ").unwrap();
            self.expr()?;
            self.emit(";\n");
            return Ok(());
        }
        let a = self.u.choose(&self.arrays)?.clone();
        match choice {
            0 => {
                write!(self.out, "{a}.push(").unwrap();
                self.expr()?;
                self.emit(");\n");
            }
            1 => {
                let index = self.pick(WRITTEN_INDICES)?;
                write!(self.out, "{a}[{index}] = ").unwrap();
                self.expr()?;
                self.emit(";\n");
            }
            2 => {
                let action = self.pick(&[".pop()", ".shift()", ".length = 1", ".length = 0"])?;
                writeln!(self.out, "{a}{action};").unwrap();
            }
            _ => {
                // An index from a computation: bounds checks at run time
                // (kept small, as above).
                write!(self.out, "{a}[(").unwrap();
                self.expr()?;
                self.emit(") & 15] = ");
                self.expr()?;
                self.emit(";\n");
            }
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<()> {
        if self.expr_depth >= MAX_EXPR_DEPTH || self.full() {
            return self.leaf();
        }
        self.expr_depth += 1;
        let result = self.compound();
        self.expr_depth -= 1;
        result
    }

    fn leaf(&mut self) -> Result<()> {
        match self.u.choose_index(7)? {
            0 if !self.counters.is_empty() => {
                let name = self.u.choose(&self.counters)?.clone();
                self.emit(&name);
            }
            0 | 1 => {
                let name = self.u.choose(&self.locals)?.clone();
                self.emit(&name);
            }
            2 => {
                let n = self.pick(NUMBERS)?;
                write!(self.out, "({n})").unwrap();
            }
            3 => {
                let n = self.u.int_in_range(-4..=40)?;
                write!(self.out, "({n})").unwrap();
            }
            4 => {
                let s = self.pick(STRINGS)?;
                self.emit(s);
            }
            5 => {
                let b = self.pick(BIGINTS)?;
                self.emit(b);
            }
            _ => {
                let atom = self.pick(&["undefined", "null", "true", "false"])?;
                self.emit(atom);
            }
        }
        Ok(())
    }

    fn compound(&mut self) -> Result<()> {
        match self.u.choose_index(16)? {
            0 => self.leaf()?,
            1 | 2 => {
                let op = self.pick(BINARY)?;
                self.emit("(");
                self.expr()?;
                write!(self.out, " {op} ").unwrap();
                self.expr()?;
                self.emit(")");
            }
            3 => {
                let op = self.pick(UNARY)?;
                write!(self.out, "({op}").unwrap();
                self.expr()?;
                self.emit(")");
            }
            4 => {
                self.emit("(");
                self.expr()?;
                self.emit(" ? ");
                self.expr()?;
                self.emit(" : ");
                self.expr()?;
                self.emit(")");
            }
            5 => {
                let f = self.pick(MATH_UNARY)?;
                write!(self.out, "{f}(").unwrap();
                self.expr()?;
                self.emit(")");
            }
            6 => {
                let f = self.pick(MATH_BINARY)?;
                write!(self.out, "{f}(").unwrap();
                self.expr()?;
                self.emit(", ");
                self.expr()?;
                self.emit(")");
            }
            7 => self.element_read()?,
            8 => self.array_method()?,
            9 => self.callback_method()?,
            10 if !self.helpers.is_empty() => {
                let (name, arity) = self.u.choose(&self.helpers)?.clone();
                write!(self.out, "{name}(").unwrap();
                for n in 0..arity {
                    if n > 0 {
                        self.emit(", ");
                    }
                    self.expr()?;
                }
                self.emit(")");
            }
            11 => {
                // Rest parameters and `arguments`.
                if self.u.arbitrary()? {
                    self.emit("((...r) => r.length + r[0])(");
                    self.expr()?;
                    self.emit(", ");
                    self.expr()?;
                    self.emit(")");
                } else {
                    let what = self.pick(&["arguments.length", "arguments[0]", "arguments[2]"])?;
                    self.emit(what);
                }
            }
            12 => {
                let kind = self.pick(TYPED_ARRAYS)?;
                let tail = self.pick(&["[0]", "[1]", ".length", "[0] + 0"])?;
                write!(self.out, "new {kind}([").unwrap();
                self.expr()?;
                self.emit(", ");
                self.expr()?;
                write!(self.out, "]){tail}").unwrap();
            }
            13 => {
                let shape = self.pick(&[
                    "String(E)",
                    "(E + '')",
                    "`<${E}>`",
                    "String(E).length",
                    "String(E).charCodeAt(1)",
                    "String(E).slice(1)",
                    "Number(E)",
                    "parseInt(String(E))",
                    "BigInt.asIntN(8, E)",
                    "BigInt.asUintN(64, E)",
                    "[E, E]",
                    "({ x: E, y: E })",
                    "Object.keys(E).length",
                    "(E).x",
                ])?;
                self.template(shape)?;
            }
            14 => {
                let i = self.fresh("i");
                let trips = self.pick(TRIPS)?;
                // A value from a loop: feedback that changes per iteration.
                write!(
                    self.out,
                    "(() => {{ let s = 0; for (let {i} = 0; {i} < {trips}; {i}++) {{ s = "
                )
                .unwrap();
                self.counters.push(i);
                self.locals.push("s".into());
                self.expr()?;
                self.locals.pop();
                self.counters.pop();
                self.emit("; } return s; })()");
            }
            _ => {
                let local = self.u.choose(&self.locals)?.clone();
                let op = self.pick(&["++", "--"])?;
                write!(self.out, "({local}{op})").unwrap();
            }
        }
        Ok(())
    }

    /// `shape` with each `E` replaced by a generated expression.
    fn template(&mut self, shape: &str) -> Result<()> {
        let mut parts = shape.split('E');
        if let Some(first) = parts.next() {
            self.emit(first);
        }
        for part in parts {
            self.expr()?;
            self.emit(part);
        }
        Ok(())
    }

    fn element_read(&mut self) -> Result<()> {
        if !self.typed.is_empty() && self.u.arbitrary()? {
            let t = self.u.choose(&self.typed)?.clone();
            write!(self.out, "{t}[").unwrap();
        } else if !self.objects.is_empty() && self.u.arbitrary()? {
            let o = self.u.choose(&self.objects)?.clone();
            let p = self.pick(PROPERTIES)?;
            write!(self.out, "{o}.{p}").unwrap();
            return Ok(());
        } else {
            let a = self.u.choose(&self.arrays)?.clone();
            write!(self.out, "{a}[").unwrap();
        }
        if self.u.arbitrary()? {
            let index = self.pick(INDICES)?;
            self.emit(index);
        } else {
            self.expr()?;
        }
        self.emit("]");
        Ok(())
    }

    fn array_method(&mut self) -> Result<()> {
        let a = self.u.choose(&self.arrays)?.clone();
        let method = self.pick(ARRAY_METHODS)?;
        self.emit(&a);
        self.template(method)
    }

    /// Builtins that call back into generated code (TurboFan inlines them).
    fn callback_method(&mut self) -> Result<()> {
        let a = self.u.choose(&self.arrays)?.clone();
        let (head, tail, params): (&str, &str, &[&str]) = *self.u.choose(&[
            (".map((x, i) => ", ")", &["x", "i"][..]),
            (".filter((x) => ", ")", &["x"][..]),
            (".reduce((s, x) => ", ", 0)", &["s", "x"][..]),
            (".some((x) => ", ")", &["x"][..]),
            (".findIndex((x) => ", ")", &["x"][..]),
            (".forEach((x) => { acc = ", "; })", &["x"][..]),
        ])?;
        write!(self.out, "{a}{head}").unwrap();
        let mark = self.locals.len();
        self.locals.extend(params.iter().map(|p| p.to_string()));
        self.expr()?;
        self.locals.truncate(mark);
        self.emit(tail);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each method's result stored back into its own array, again and again
    /// (as a helper called over the rounds and inputs does): what the array
    /// then holds (elements of the arrays reachable from it, each array once,
    /// and characters of its strings) grows at most linearly.
    #[test]
    fn results_stored_back_into_their_array_grow_it_at_most_linearly() {
        // V8 starts as the harness starts it, whichever test comes first.
        crate::init_engine();
        let mut ctx = v8cage::Context::new(v8cage::ContextOptions::default()).unwrap();
        for method in ARRAY_METHODS {
            let call = method.replace('E', "a");
            let held = ctx
                .eval(&format!(
                    "(() => {{ const a = [1, , 3];
                      for (let k = 0; k < 20; k++) a[k & 3] = a{call};
                      const seen = new Set(); let n = 0;
                      const walk = (x) => {{
                        if (typeof x === 'string') {{ n += x.length; return; }}
                        if (!Array.isArray(x) || seen.has(x)) return;
                        seen.add(x); n += x.length; x.forEach(walk);
                      }};
                      walk(a); return n; }})()"
                ))
                .unwrap();
            let held = match held {
                v8cage::Value::Number(n) => n,
                other => panic!("{method}: {other:?}"),
            };
            assert!(
                held < 1_000.0,
                "`a[i] = a{call}` 20 times: the array holds {held}"
            );
        }
    }

    #[test]
    fn portable_source_has_no_intrinsics() {
        let program = Program {
            source: format!("(function () {{ {DEOPT_POINT}; return [() => 1, [[]]]; }})"),
        };
        assert!(!program.portable_source().contains('%'));
        assert!(!program.uses_approximated_math());
    }
}
