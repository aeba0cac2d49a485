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

use vocabulary::{LARGE_SIZES, SMALL_SIZES};

mod expressions;
mod vocabulary;

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

    /// A loop count or allocation size: large one time in eight.
    fn size(&mut self) -> Result<&'static str> {
        let sizes = if self.u.ratio(1, 8)? {
            LARGE_SIZES
        } else {
            SMALL_SIZES
        };
        Ok(*self.u.choose(sizes)?)
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
                let size = self.size()?;
                write!(self.out, "for (let {i} = 0; {i} < {size}; {i}++) ").unwrap();
                self.loop_body(&i)?;
            }
            3 => {
                // Ends by `break`, an exception, or (one time in eight,
                // where the endless loop is the point) the timeout; else
                // after 64 rounds, as timeouts cost the fuzzer most.
                if self.u.ratio(1, 8)? {
                    self.emit("while (true) {\nif (");
                } else {
                    let guard = self.fresh("g");
                    write!(
                        self.out,
                        "for (let {guard} = 0; {guard} < 64; {guard}++) {{\nif ("
                    )
                    .unwrap();
                }
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
}
