//! A structure-aware JavaScript program generator for `eval_gen`.
//!
//! The fuzzer's bytes drive choices (in the style of wasm-smith); the
//! generator writes source text directly, tracking which variables,
//! functions and classes are in scope, so that every program parses. Runtime
//! errors (`TypeError`, `RangeError`, thrown values) are wanted; a syntax
//! error is a generator bug. Compound expressions are always parenthesised,
//! so operator precedence never matters.
//!
//! The whole program is one immediately-invoked function: its declarations
//! never collide with the next input's in the reused context.

use std::fmt::Write;

use arbitrary::{Arbitrary, Result, Unstructured};

/// Bounds that keep generation (and printing) small and recursion shallow.
const MAX_EXPR_DEPTH: u32 = 6;
const MAX_STMT_DEPTH: u32 = 4;
const MAX_SOURCE_LEN: usize = 16 << 10;

/// A generated program.
#[derive(Debug, Clone)]
pub struct Program {
    pub source: String,
}

impl<'a> Arbitrary<'a> for Program {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut generator = Generator {
            u,
            out: String::new(),
            scope: Vec::new(),
            functions: Vec::new(),
            classes: Vec::new(),
            next_id: 0,
            expr_depth: 0,
            stmt_depth: 0,
            loop_depth: 0,
        };
        generator.program()?;
        Ok(Program {
            source: generator.out,
        })
    }
}

/// Integer literals that reach interesting engine paths (Smi bounds, array
/// index bounds, sizes near V8's limits).
const INTERESTING_INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "7",
    "31",
    "32",
    "64",
    "255",
    "256",
    "1000",
    "65535",
    "65536",
    "1073741823",
    "1073741824",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740991",
    "9007199254740993",
    "1e21",
    "0.1",
    "1.5",
    "NaN",
    "Infinity",
    "-0",
    "-1",
    "1e308",
    "5e-324",
];

/// Sizes for loops and allocations: small, medium, and large enough to hit
/// the timeout or the heap limit.
const SIZES: &[&str] = &["0", "1", "3", "16", "1000", "100000", "1e6", "1e7", "2**28"];

const PROPERTY_NAMES: &[&str] = &[
    "a",
    "b",
    "length",
    "x",
    "0",
    "constructor",
    "prototype",
    "toString",
    "valueOf",
    "then",
    "name",
    "size",
];

const BINARY_OPERATORS: &[&str] = &[
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "&",
    "|",
    "^",
    "<<",
    ">>",
    ">>>",
    "==",
    "===",
    "!=",
    "!==",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "??",
    "in",
    "instanceof",
    ",",
];

const UNARY_OPERATORS: &[&str] = &["-", "+", "!", "~", "typeof ", "void "];

/// Regular expressions that are valid with and without the `u` flag.
const REGEX_ATOMS: &[&str] = &[
    "a", "b+", "[a-z]*", "(x|y)", "\\d", ".", "^", "$", "(?:ab)", "a{1,3}", "\\w+", "(a*)*",
    "[^b]", "\\b", "\\s?", "(?=a)", "(?!b)",
];
const REGEX_FLAGS: &[&str] = &["", "g", "i", "gi", "m", "s", "u", "y", "gu", "d"];

const TYPED_ARRAYS: &[&str] = &[
    "Uint8Array",
    "Int8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
    "BigUint64Array",
];

/// Builtin calls taking one argument.
const UNARY_BUILTINS: &[&str] = &[
    "String",
    "Number",
    "Boolean",
    "BigInt",
    "Object.keys",
    "Object.entries",
    "Object.freeze",
    "Object.getPrototypeOf",
    "Array.from",
    "Array.isArray",
    "JSON.stringify",
    "Math.abs",
    "Math.floor",
    "parseInt",
    "parseFloat",
    "isNaN",
    "Symbol",
    "Promise.resolve",
    "structuredClone",
    "Reflect.ownKeys",
    "encodeURIComponent",
    "escape",
];

/// Method calls, printed after a receiver: `(receiver)<method>`.
const METHODS: &[&str] = &[
    ".toString()",
    ".valueOf()",
    ".slice(1)",
    ".concat([1])",
    ".join('-')",
    ".split('')",
    ".map(x => x)",
    ".filter(Boolean)",
    ".reverse()",
    ".sort()",
    ".at(-1)",
    ".flat(Infinity)",
    ".toFixed(2)",
    ".padStart(10, '*')",
    ".includes(1)",
    ".indexOf('a')",
    ".charCodeAt(0)",
    ".normalize('NFD')",
    ".localeCompare('b')",
    ".toUpperCase()",
    ".replaceAll('a', 'b')",
    ".push(1)",
    ".fill(0)",
    ".keys().next()",
    ".subarray(1)",
    ".buffer",
    "[Symbol.iterator]().next()",
];

struct Generator<'u, 'a> {
    u: &'u mut Unstructured<'a>,
    out: String,
    /// Assignable variables in scope (`let`/`var`/parameters).
    scope: Vec<String>,
    /// Functions in scope and their parameter counts.
    functions: Vec<(String, usize)>,
    classes: Vec<String>,
    next_id: u32,
    expr_depth: u32,
    stmt_depth: u32,
    /// Loops enclosing the current point within the current function
    /// (`break` is valid only inside one).
    loop_depth: u32,
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

    fn program(&mut self) -> Result<()> {
        let strict = self.u.arbitrary::<bool>()?;
        self.emit("(function () {\n");
        if strict {
            self.emit("'use strict';\n");
        }
        let count = self.u.int_in_range(0..=12)?;
        for _ in 0..count {
            self.statement()?;
        }
        self.emit("return ");
        self.expr()?;
        self.emit(";\n})()\n");
        Ok(())
    }

    /// Statements in their own block scope.
    fn block(&mut self, max: u32) -> Result<()> {
        let marks = (self.scope.len(), self.functions.len(), self.classes.len());
        self.emit("{\n");
        let count = self.u.int_in_range(0..=max)?;
        for _ in 0..count {
            self.statement()?;
        }
        self.emit("}\n");
        self.scope.truncate(marks.0);
        self.functions.truncate(marks.1);
        self.classes.truncate(marks.2);
        Ok(())
    }

    fn statement(&mut self) -> Result<()> {
        if self.stmt_depth >= MAX_STMT_DEPTH || self.full() {
            return self.simple_statement();
        }
        self.stmt_depth += 1;
        match self.u.choose_index(11)? {
            0 => self.simple_statement()?,
            1 => {
                self.emit("if (");
                self.expr()?;
                self.emit(") ");
                self.block(3)?;
                if self.u.arbitrary()? {
                    self.emit("else ");
                    self.block(3)?;
                }
            }
            2 => {
                let i = self.fresh("i");
                let size = *self.u.choose(SIZES)?;
                write!(self.out, "for (let {i} = 0; {i} < {size}; {i}++) ").unwrap();
                self.loop_body(&i)?;
            }
            3 => {
                // Ends by `break`, an exception, or the timeout.
                self.emit("while (true) {\nif (");
                self.expr()?;
                self.emit(") break;\n");
                self.loop_depth += 1;
                self.block(3)?;
                self.loop_depth -= 1;
                self.emit("}\n");
            }
            4 => {
                self.emit("try ");
                self.block(3)?;
                let caught = self.fresh("e");
                writeln!(self.out, "catch ({caught}) {{").unwrap();
                self.scope.push(caught);
                self.block(2)?;
                self.scope.pop();
                self.emit("}\n");
                if self.u.arbitrary()? {
                    self.emit("finally ");
                    self.block(2)?;
                }
            }
            5 => self.function_declaration()?,
            6 => self.class_declaration()?,
            7 => {
                self.emit("throw ");
                self.expr()?;
                self.emit(";\n");
            }
            8 => {
                let item = self.fresh("v");
                self.emit("for (const ");
                self.emit(&item);
                self.emit(" of [");
                self.expr()?;
                self.emit(", ");
                self.expr()?;
                self.emit("]) ");
                self.loop_body(&item)?;
            }
            9 => {
                let key = self.fresh("k");
                write!(self.out, "for (const {key} in ").unwrap();
                self.expr()?;
                self.emit(") ");
                self.loop_body(&key)?;
            }
            _ => {
                if self.loop_depth > 0 {
                    let jump = if self.u.arbitrary()? {
                        "break;\n"
                    } else {
                        "continue;\n"
                    };
                    self.emit(jump);
                } else {
                    self.block(3)?;
                }
            }
        }
        self.stmt_depth -= 1;
        Ok(())
    }

    /// A loop body with the loop variable in scope (assigning a `const` one
    /// is a runtime TypeError, which is fine).
    fn loop_body(&mut self, variable: &str) -> Result<()> {
        self.scope.push(variable.to_owned());
        self.loop_depth += 1;
        let assignable_mark = self.scope.len();
        let result = self.block(3);
        self.loop_depth -= 1;
        self.scope.truncate(assignable_mark - 1);
        result
    }

    fn simple_statement(&mut self) -> Result<()> {
        if self.u.arbitrary()? {
            let name = self.fresh("v");
            let keyword = if self.u.arbitrary()? { "let " } else { "var " };
            self.emit(keyword);
            self.emit(&name);
            self.emit(" = ");
            self.expr()?;
            self.emit(";\n");
            self.scope.push(name);
        } else {
            // Parenthesised so an object literal or `function` is not read
            // as a block or declaration.
            self.emit("(");
            self.expr()?;
            self.emit(");\n");
        }
        Ok(())
    }

    fn function_declaration(&mut self) -> Result<()> {
        let name = self.fresh("f");
        let arity = self.u.int_in_range(0..=3)?;
        let kind = *self
            .u
            .choose(&["function", "function*", "async function"])?;
        write!(self.out, "{kind} {name}(").unwrap();
        // Visible in its own body: recursion without a base case is wanted.
        if kind == "function" {
            self.functions.push((name.clone(), arity));
        }
        self.function_body(arity)?;
        Ok(())
    }

    /// Parameters (after the caller printed `name(`), then `) { ... }`.
    fn function_body(&mut self, arity: usize) -> Result<()> {
        let marks = (self.scope.len(), self.functions.len(), self.classes.len());
        for n in 0..arity {
            let param = self.fresh("p");
            if n > 0 {
                self.emit(", ");
            }
            self.emit(&param);
            self.scope.push(param);
        }
        self.emit(") {\n");
        let saved_loops = std::mem::replace(&mut self.loop_depth, 0);
        let count = self.u.int_in_range(0..=4)?;
        for _ in 0..count {
            self.statement()?;
        }
        self.emit("return ");
        self.expr()?;
        self.emit(";\n}\n");
        self.loop_depth = saved_loops;
        self.scope.truncate(marks.0);
        self.functions.truncate(marks.1);
        self.classes.truncate(marks.2);
        Ok(())
    }

    fn class_declaration(&mut self) -> Result<()> {
        let name = self.fresh("C");
        let base = if self.u.arbitrary()? && !self.classes.is_empty() {
            Some(self.u.choose(&self.classes)?.clone())
        } else {
            None
        };
        write!(self.out, "class {name} ").unwrap();
        if let Some(base) = &base {
            write!(self.out, "extends {base} ").unwrap();
        }
        self.emit("{\n#secret = ");
        self.expr()?;
        self.emit(";\nfield = ");
        self.expr()?;
        self.emit(";\nstatic count = 0;\nconstructor(");
        let marks = self.scope.len();
        let param = self.fresh("p");
        self.emit(&param);
        self.scope.push(param.clone());
        self.emit(") {\n");
        if base.is_some() {
            self.emit("super(");
            self.expr()?;
            self.emit(");\n");
        }
        write!(self.out, "this.value = {param};\n{name}.count++;\n}}\n").unwrap();
        self.scope.truncate(marks);
        self.emit("get secret() { return this.#secret; }\n");
        self.emit("set secret(v) { this.#secret = v; }\nmethod(");
        self.function_body(1)?;
        self.emit("static make(");
        self.function_body(1)?;
        self.emit("[Symbol.toPrimitive](hint) { return ");
        self.expr()?;
        self.emit("; }\n}\n");
        self.classes.push(name);
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

    fn compound(&mut self) -> Result<()> {
        match self.u.choose_index(30)? {
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
            13 => {
                let kind = *self.u.choose(TYPED_ARRAYS)?;
                write!(self.out, "new {kind}(").unwrap();
                if self.u.arbitrary()? {
                    let size = *self.u.choose(SIZES)?;
                    self.emit(size);
                } else {
                    self.expr()?;
                }
                self.emit(")");
            }
            14 => {
                self.emit("new DataView(new ArrayBuffer(");
                let size = *self.u.choose(SIZES)?;
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
            21 => {
                // A large allocation. (`new Array(n).fill` is bounded: V8
                // 10.2 aborts on some builtins that fill huge arrays without
                // checking for termination; that is V8's bug, not ours.)
                let size = *self.u.choose(SIZES)?;
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
            22 if !self.scope.is_empty() => {
                let name = self.u.choose(&self.scope)?.clone();
                let op = *self.u.choose(&["=", "+=", "??=", "||=", "**="])?;
                write!(self.out, "({name} {op} ").unwrap();
                self.expr()?;
                self.emit(")");
            }
            23 => {
                self.emit("`a${");
                self.expr()?;
                self.emit("}b${");
                self.expr()?;
                self.emit("}`");
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
            28 => {
                self.emit("Object.defineProperty(");
                self.object_literal()?;
                let property = *self.u.choose(PROPERTY_NAMES)?;
                write!(self.out, ", '{property}', {{ get() {{ return ").unwrap();
                self.expr()?;
                self.emit("; }, enumerable: true })");
            }
            _ => {
                self.emit("Math.max(...");
                self.expr()?;
                self.emit(")");
            }
        }
        Ok(())
    }

    fn object_literal(&mut self) -> Result<()> {
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
