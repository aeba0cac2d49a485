//! Expressions: leaves (literals, variables) and compound expressions.

use std::fmt::Write;

use arbitrary::Result;

use super::vocabulary::*;
use super::{Generator, MAX_EXPR_DEPTH};

impl Generator<'_, '_> {
    pub(super) fn expr(&mut self) -> Result<()> {
        if self.expr_depth >= MAX_EXPR_DEPTH || self.full() {
            return self.leaf();
        }
        self.expr_depth += 1;
        let result = self.compound();
        self.expr_depth -= 1;
        result
    }

    pub(super) fn leaf(&mut self) -> Result<()> {
        match self.u.choose_index(9)? {
            0 => {
                let n = *self.u.choose(INTERESTING_INTS)?;
                write!(self.out, "({n})").unwrap();
            }
            1 => {
                let n: i32 = self.u.arbitrary()?;
                write!(self.out, "({n})").unwrap();
            }
            2 => {
                let f: f64 = self.u.arbitrary()?;
                if f.is_finite() {
                    // `{:?}` prints a JS-compatible literal (`1e300`, `0.5`).
                    write!(self.out, "({f:?})").unwrap();
                } else {
                    self.emit("(-Infinity)");
                }
            }
            3 => self.string_literal()?,
            4 if !self.scope.is_empty() => {
                let name = self.u.choose(&self.scope)?.clone();
                self.emit(&name);
            }
            5 => {
                let n: i64 = self.u.arbitrary()?;
                write!(self.out, "({n}n)").unwrap();
            }
            6 => {
                let atom = *self.u.choose(&[
                    "undefined",
                    "null",
                    "true",
                    "false",
                    "this",
                    "globalThis",
                ])?;
                self.emit(atom);
            }
            7 => {
                let count = self.u.int_in_range(1..=3)?;
                self.emit("/");
                for _ in 0..count {
                    let atom = *self.u.choose(REGEX_ATOMS)?;
                    self.emit(atom);
                }
                self.emit("/");
                let flags = *self.u.choose(REGEX_FLAGS)?;
                self.emit(flags);
            }
            _ => self.emit("[]"),
        }
        Ok(())
    }

    fn string_literal(&mut self) -> Result<()> {
        let text: &str = self.u.arbitrary()?;
        self.emit("\"");
        for c in text.chars().take(32) {
            match c {
                '"' => self.emit("\\\""),
                '\\' => self.emit("\\\\"),
                ' '..='~' => self.out.push(c),
                _ => write!(self.out, "\\u{{{:x}}}", c as u32).unwrap(),
            }
        }
        self.emit("\"");
        Ok(())
    }

    fn expr_list(&mut self, max: u32) -> Result<()> {
        let count = self.u.int_in_range(0..=max)?;
        for n in 0..count {
            if n > 0 {
                self.emit(", ");
            }
            self.expr()?;
        }
        Ok(())
    }

    /// A compound expression. The choice is one of 30, dispatched by group;
    /// a choice whose precondition fails (no function, class or variable in
    /// scope) becomes a leaf. (It used to become choice 29, the spread of
    /// `Math.max`: mostly a TypeError whose message V8 renders by re-parsing
    /// the whole program, a third of `eval_gen`'s time.)
    fn compound(&mut self) -> Result<()> {
        let choice = self.u.choose_index(30)?;
        match choice {
            0..=5 => self.operator_expr(choice),
            6 | 7 | 20 | 25..=27 => self.function_expr(choice),
            8..=12 | 24 | 28 => self.object_expr(choice),
            13..=19 | 21 | 23 => self.builtin_expr(choice),
            22 if !self.scope.is_empty() => {
                let name = self.u.choose(&self.scope)?.clone();
                let op = *self.u.choose(&["=", "+=", "??=", "||=", "**="])?;
                write!(self.out, "({name} {op} ").unwrap();
                self.expr()?;
                self.emit(")");
                Ok(())
            }
            29 => self.spread_max(),
            _ => self.leaf(),
        }
    }

    fn spread_max(&mut self) -> Result<()> {
        self.emit("Math.max(...");
        self.expr()?;
        self.emit(")");
        Ok(())
    }

    /// Operators and literals: a leaf, binary, unary and conditional
    /// expressions, array and object literals.
    fn operator_expr(&mut self, choice: usize) -> Result<()> {
        match choice {
            0 => self.leaf()?,
            1 => {
                let op = *self.u.choose(BINARY_OPERATORS)?;
                self.emit("(");
                self.expr()?;
                write!(self.out, " {op} ").unwrap();
                self.expr()?;
                self.emit(")");
            }
            2 => {
                let op = *self.u.choose(UNARY_OPERATORS)?;
                write!(self.out, "({op}").unwrap();
                self.expr()?;
                self.emit(")");
            }
            3 => {
                self.emit("(");
                self.expr()?;
                self.emit(" ? ");
                self.expr()?;
                self.emit(" : ");
                self.expr()?;
                self.emit(")");
            }
            4 => {
                self.emit("[");
                self.expr_list(4)?;
                if self.u.arbitrary()? {
                    self.emit(", ...");
                    self.expr()?;
                }
                self.emit("]");
            }
            5 => self.object_literal()?,
            _ => return self.leaf(),
        }
        Ok(())
    }

    /// Functions: arrows, calls, recursion, function, generator and async
    /// expressions.
    fn function_expr(&mut self, choice: usize) -> Result<()> {
        match choice {
            6 => {
                // An arrow function: a closure over the scope.
                let marks = self.scope.len();
                let param = self.fresh("p");
                write!(self.out, "(({param}) => ").unwrap();
                self.scope.push(param);
                self.expr()?;
                self.scope.truncate(marks);
                self.emit(")");
            }
            7 if !self.functions.is_empty() => {
                let (name, arity) = self.u.choose(&self.functions)?.clone();
                write!(self.out, "{name}(").unwrap();
                for n in 0..arity {
                    if n > 0 {
                        self.emit(", ");
                    }
                    self.expr()?;
                }
                self.emit(")");
            }
            20 => {
                // Recursion: shallow, deep, or past the stack limit.
                let depth = *self.u.choose(&["0", "3", "100", "10000", "1e6"])?;
                let r = self.fresh("r");
                write!(
                    self.out,
                    "(function {r}(n) {{ return n <= 0 ? 0 : 1 + {r}(n - 1); }})({depth})"
                )
                .unwrap();
            }
            25 => {
                // A function expression: statements inside an expression.
                self.emit("(function (");
                self.function_body(0)?;
                self.emit(")()");
            }
            26 => {
                self.emit("(function* () { yield ");
                self.expr()?;
                self.emit("; yield* [");
                self.expr_list(2)?;
                self.emit("]; })().next()");
            }
            27 => {
                self.emit("(async () => { await null; return ");
                self.expr()?;
                self.emit("; })()");
            }
            _ => return self.leaf(),
        }
        Ok(())
    }

    /// Objects: builtins applied, methods, properties, indexing, Proxies,
    /// classes, accessors.
    fn object_expr(&mut self, choice: usize) -> Result<()> {
        match choice {
            8 => {
                let builtin = *self.u.choose(UNARY_BUILTINS)?;
                write!(self.out, "{builtin}(").unwrap();
                self.expr()?;
                self.emit(")");
            }
            9 => {
                let method = *self.u.choose(METHODS)?;
                self.emit("(");
                self.expr()?;
                write!(self.out, "){method}").unwrap();
            }
            10 => {
                let property = *self.u.choose(PROPERTY_NAMES)?;
                let optional = if self.u.arbitrary()? { "?." } else { "" };
                self.emit("(");
                self.expr()?;
                // `x.0` does not parse; index keys go in brackets.
                if property.starts_with(|c: char| c.is_ascii_digit()) {
                    write!(self.out, "){optional}[{property}]").unwrap();
                } else if optional.is_empty() {
                    write!(self.out, ").{property}").unwrap();
                } else {
                    write!(self.out, ")?.{property}").unwrap();
                }
            }
            11 => {
                self.emit("(");
                self.expr()?;
                self.emit(")[");
                self.expr()?;
                self.emit("]");
            }
            12 => {
                self.emit("new Proxy(");
                self.expr()?;
                self.emit(", { get(t, k, r) { return ");
                self.expr()?;
                self.emit("; }, has(t, k) { return ");
                self.expr()?;
                self.emit("; }, ownKeys(t) { return Reflect.ownKeys(t); } })");
            }
            24 if !self.classes.is_empty() => {
                let class = self.u.choose(&self.classes)?.clone();
                let tail = *self.u.choose(&[
                    ".secret",
                    ".method(0)",
                    ".field",
                    ".value",
                    ".constructor.count",
                    "",
                ])?;
                write!(self.out, "(new {class}(").unwrap();
                self.expr()?;
                write!(self.out, ")){tail}").unwrap();
            }
            28 => {
                self.emit("Object.defineProperty(");
                self.object_literal()?;
                let property = *self.u.choose(PROPERTY_NAMES)?;
                write!(self.out, ", '{property}', {{ get() {{ return ").unwrap();
                self.expr()?;
                self.emit("; }, enumerable: true })");
            }
            _ => return self.leaf(),
        }
        Ok(())
    }

    /// Builtins with sizes and formats: typed arrays, DataView, JSON, RegExp,
    /// BigInt, Date, large allocations, templates.
    fn builtin_expr(&mut self, choice: usize) -> Result<()> {
        match choice {
            13 => {
                let kind = *self.u.choose(TYPED_ARRAYS)?;
                write!(self.out, "new {kind}(").unwrap();
                if self.u.arbitrary()? {
                    let size = self.size()?;
                    self.emit(size);
                } else {
                    self.expr()?;
                }
                self.emit(")");
            }
            14 => {
                self.emit("new DataView(new ArrayBuffer(");
                let size = self.size()?;
                self.emit(size);
                self.emit("))");
            }
            15 => {
                let parse = if self.u.arbitrary()? {
                    "JSON.parse(JSON.stringify("
                } else {
                    "JSON.parse(String("
                };
                self.emit(parse);
                self.expr()?;
                self.emit("))");
            }
            16 => {
                let method = *self.u.choose(&[".exec", ".test", "[Symbol.split]"])?;
                self.emit("(new RegExp(String(");
                self.expr()?;
                write!(self.out, "))){method}(String(").unwrap();
                self.expr()?;
                self.emit("))");
            }
            17 => {
                self.emit("(String(");
                self.expr()?;
                self.emit(")).replace(");
                self.leaf()?;
                self.emit(", ");
                self.expr()?;
                self.emit(")");
            }
            18 => {
                self.emit("(BigInt.asIntN(64, BigInt(");
                self.leaf()?;
                self.emit(")) ** ");
                let exponent = self.u.int_in_range(0..=200u32)?;
                write!(self.out, "{exponent}n)").unwrap();
            }
            19 => {
                let method =
                    *self
                        .u
                        .choose(&["toISOString()", "getTime()", "toString()", "getDay()"])?;
                self.emit("(new Date(");
                self.expr()?;
                write!(self.out, ")).{method}").unwrap();
            }
            21 => {
                // A large allocation. (`new Array(n).fill` is bounded: V8
                // 10.2 aborts on some builtins that fill huge arrays without
                // checking for termination; that is V8's bug, not ours.)
                let size = self.size()?;
                let shape = *self.u.choose(&[
                    "'ab'.repeat(SIZE)",
                    "new Array(Math.min(SIZE, 1e6)).fill(1.5)",
                    "new ArrayBuffer(SIZE)",
                    "Array.from({length: Math.min(SIZE, 1e6)}, (_, i) => i)",
                    "new Map(Array.from({length: Math.min(SIZE, 1e5)}, (_, i) => [i, {i}]))",
                    "new Set('abcdefghij'.repeat(Math.min(SIZE, 1e5)))",
                ])?;
                self.emit(&shape.replace("SIZE", size));
            }
            23 => {
                self.emit("`a${");
                self.expr()?;
                self.emit("}b${");
                self.expr()?;
                self.emit("}`");
            }
            _ => return self.leaf(),
        }
        Ok(())
    }

    pub(super) fn object_literal(&mut self) -> Result<()> {
        self.emit("({");
        let count = self.u.int_in_range(0..=4)?;
        for n in 0..count {
            if n > 0 {
                self.emit(", ");
            }
            match self.u.choose_index(5)? {
                0 => {
                    let property = *self.u.choose(PROPERTY_NAMES)?;
                    write!(self.out, "{property}: ").unwrap();
                    self.expr()?;
                }
                1 => {
                    // Computed key: `__proto__` only this way, a literal
                    // key twice is a syntax error.
                    self.emit("[");
                    self.expr()?;
                    self.emit("]: ");
                    self.expr()?;
                }
                2 => {
                    let property = self.fresh("g");
                    write!(self.out, "get {property}() {{ return ").unwrap();
                    self.expr()?;
                    self.emit("; }");
                }
                3 => {
                    let property = self.fresh("s");
                    write!(self.out, "set {property}(v) {{ this.x = v; }}").unwrap();
                }
                _ => {
                    self.emit("...");
                    self.expr()?;
                }
            }
        }
        self.emit("})");
        Ok(())
    }
}
