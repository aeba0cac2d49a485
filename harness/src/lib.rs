//! The fuzz harness: one function per target, run unchanged by libFuzzer
//! (`fuzz/`), AFL (`afl/`) and the corpus replay test (`core/tests/corpus.rs`).
//!
//! libnode's V8 is not coverage-instrumented, so coverage feedback only sees
//! this crate. The targets carry their own depth instead: structure-aware
//! generators ([`jsgen`], [`values`], [`ops`]) turn the fuzzer's bytes into
//! meaningful programs, values and API call sequences, and oracles check what
//! the results *mean*, not only that nothing crashed. A target panics when an
//! oracle fails; every driver reports a panic as a crash.
//!
//! Contexts are reused across inputs (one per target and thread): a fresh
//! isolate per input is ~45× slower and grows memory under ASan. A context is
//! replaced only when it reports its heap exhausted, which the core documents.

use std::cell::RefCell;
use std::fmt;
use std::thread::LocalKey;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::{Context, ContextOptions, Error, Value};

pub mod jsgen;
pub mod json;
pub mod ops;
pub mod values;

/// LeakSanitizer's built-in suppressions (its runtime calls this weak hook at
/// start-up): V8 never frees some process-wide allocations inside libnode by
/// design, exactly what `sanitizer-builds/lsan.supp` lists. Built into the
/// fuzz binaries because ClusterFuzzLite and OSS-Fuzz run them with their own
/// `LSAN_OPTIONS`; `fuzz/build.rs` keeps the linker from dropping it.
#[no_mangle]
pub extern "C" fn __lsan_default_suppressions() -> *const std::os::raw::c_char {
    c"leak:libnode.so\n".as_ptr()
}

/// Every target, by the name its drivers, corpus folders and xtask use.
pub const TARGETS: &[&str] = &["eval", "eval_gen", "roundtrip", "json", "api_ops"];

/// What one target did with one input: each step's result. Only
/// `cargo xtask repro` looks at it (with [`describe`] for the input); drivers
/// drop it.
#[derive(Debug, Default)]
pub struct Outcome {
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct Step {
    pub what: String,
    pub result: Result<Value, Error>,
}

impl Outcome {
    /// An outcome of one step.
    fn single(what: &str, result: Result<Value, Error>) -> Outcome {
        let mut outcome = Outcome::default();
        outcome.step(what, result);
        outcome
    }

    fn step(&mut self, what: impl Into<String>, result: Result<Value, Error>) {
        self.steps.push(Step {
            what: what.into(),
            result,
        });
    }
}

/// The steps, one per line, each result clipped to 2000 bytes.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            let shown = format!("{:?}", step.result);
            writeln!(f, "{}: {}", step.what, clip(&shown, 2000))?;
        }
        Ok(())
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// Runs `target` on `data`. `None` if there is no such target.
pub fn run(target: &str, data: &[u8]) -> Option<Outcome> {
    Some(match target {
        "eval" => eval(data),
        "eval_gen" => eval_gen(data),
        "roundtrip" => roundtrip(data),
        "json" => json(data),
        "api_ops" => api_ops(data),
        _ => return None,
    })
}

/// What `target` makes of `data`, without running it (the source, generated
/// program, value or op list). `None` if there is no such target.
pub fn describe(target: &str, data: &[u8]) -> Option<String> {
    let decoded = match target {
        "eval" | "json" => String::from_utf8_lossy(data).into_owned(),
        "eval_gen" => jsgen::Program::arbitrary_take_rest(Unstructured::new(data))
            .map_or_else(|e| format!("(no program: {e})"), |p| p.source),
        "roundtrip" => values::ArbitraryValue::arbitrary_take_rest(Unstructured::new(data))
            .map_or_else(|e| format!("(no value: {e})"), |v| format!("{:?}", v.0)),
        "api_ops" => ops::Script::arbitrary_take_rest(Unstructured::new(data))
            .map_or_else(|e| format!("(no op list: {e})"), |s| format!("{s:#?}")),
        _ => return None,
    };
    Some(decoded)
}

/// Limits of the reused evaluation contexts: short enough that an endless
/// loop costs one fuzz iteration a few dozen milliseconds, small enough that
/// an allocation loop ends quickly.
pub fn fuzz_options() -> ContextOptions {
    ContextOptions {
        timeout: Some(Duration::from_millis(50)),
        heap_limit: Some(32 << 20),
        max_result_bytes: 1 << 20,
        max_depth: 200,
    }
}

thread_local! {
    static EVAL_CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
    static EVAL_GEN_CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
    static ROUNDTRIP_CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
    static JSON_CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's context for one target, creating it on first
/// use (and running `setup` in it), and replacing it when the heap is found
/// exhausted afterwards.
fn with_reused_context<R>(
    slot: &'static LocalKey<RefCell<Option<Context>>>,
    setup: &'static str,
    f: impl FnOnce(&mut Context) -> R,
) -> R {
    slot.with(|cell| {
        let mut cell = cell.borrow_mut();
        let ctx = cell.get_or_insert_with(|| {
            let mut ctx = Context::new(fuzz_options()).expect("creating a fuzz context");
            if !setup.is_empty() {
                ctx.eval(setup).expect("fuzz context setup script");
            }
            ctx
        });
        let result = f(ctx);
        if !still_usable(ctx) {
            *cell = None;
        }
        result
    })
}

/// The "survivors keep working" oracle: `1+1` still gives 2. `false` when the
/// context answers `OutOfMemory` because data kept alive by earlier scripts
/// exceeds its heap limit (documented behaviour: it must be replaced). Any
/// other answer is a bug.
pub fn still_usable(ctx: &mut Context) -> bool {
    let timeout = ctx.options().timeout;
    // A generous bound for the check itself: the machine may be loaded.
    ctx.set_timeout(Some(Duration::from_secs(10)));
    let answer = ctx.eval("1+1");
    ctx.set_timeout(timeout);
    match answer {
        Ok(Value::Number(2.0)) => true,
        Err(Error::OutOfMemory) => false,
        other => panic!("context broken after the input: `1+1` gave {other:?}"),
    }
}

/// The "typed errors only" oracle for evaluations: `Engine` means the shim
/// failed internally and `InvalidInput` cannot come from source text.
fn assert_typed(result: &Result<Value, Error>) {
    match result {
        Err(e @ (Error::Engine(_) | Error::InvalidInput(_))) => {
            panic!("evaluation gave an untyped/internal error: {e:?}")
        }
        Err(Error::Syntax { line, .. }) if *line == 0 => {
            panic!("syntax error without a line: {result:?}")
        }
        _ => {}
    }
}

/// `eval`: bytes as (lossy UTF-8) source in a reused context.
pub fn eval(data: &[u8]) -> Outcome {
    let source = String::from_utf8_lossy(data);
    let result = with_reused_context(&EVAL_CONTEXT, "", |ctx| ctx.eval(&source));
    assert_typed(&result);
    Outcome::single("eval", result)
}

/// `eval_gen`: a generated program ([`jsgen`]) that must parse.
pub fn eval_gen(data: &[u8]) -> Outcome {
    let Ok(program) = jsgen::Program::arbitrary_take_rest(Unstructured::new(data)) else {
        return Outcome::default();
    };
    let result = with_reused_context(&EVAL_GEN_CONTEXT, "", |ctx| ctx.eval(&program.source));
    if let Err(Error::Syntax { .. }) = &result {
        panic!(
            "generator bug: generated program does not parse: {result:?}\n{}",
            program.source
        );
    }
    assert_typed(&result);
    Outcome::single("eval", result)
}

const IDENTITY: &str = "__v8cage_identity";
const IDENTITY_SETUP: &str = "globalThis.__v8cage_identity = x => x";

/// `roundtrip`: a [`values::ArbitraryValue`] into JS and back through an
/// identity function; JSON-representable values also through
/// `JSON.stringify`, which must agree with serde_json.
pub fn roundtrip(data: &[u8]) -> Outcome {
    let Ok(values::ArbitraryValue(value)) =
        values::ArbitraryValue::arbitrary_take_rest(Unstructured::new(data))
    else {
        return Outcome::default();
    };
    let mut outcome = Outcome::default();
    let (back, stringified) = with_reused_context(&ROUNDTRIP_CONTEXT, IDENTITY_SETUP, |ctx| {
        let back = ctx.call(IDENTITY, std::slice::from_ref(&value));
        let stringified = values::json_representable(&value)
            .then(|| ctx.call("JSON.stringify", std::slice::from_ref(&value)));
        (back, stringified)
    });
    let expected = values::as_js_sees_it(&value);
    match &back {
        Ok(got) if got.same_value(&expected) => {}
        // The value itself is within limits, so only a loaded machine's
        // timeout may interrupt it.
        Err(Error::Timeout) => {}
        other => panic!(
            "roundtrip changed the value:\n sent {value:?}\n want {expected:?}\n  got {other:?}"
        ),
    }
    outcome.step("identity", back);
    if let Some(stringified) = stringified {
        match &stringified {
            Ok(Value::String(text)) => json::assert_stringify_agrees(&value, text),
            Err(Error::Timeout) => {}
            other => panic!("JSON.stringify of {value:?} gave {other:?}"),
        }
        outcome.step("JSON.stringify", stringified);
    }
    outcome
}

/// `json`: bytes (lossy UTF-8) through V8's `JSON.parse` and serde_json.
pub fn json(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data).into_owned();
    let arg = [Value::String(text.clone())];
    let parsed = with_reused_context(&JSON_CONTEXT, "", |ctx| ctx.call("JSON.parse", &arg));
    json::assert_parse_agrees(&text, &parsed);
    Outcome::single("JSON.parse", parsed)
}

/// `api_ops`: an arbitrary sequence of API operations on up to three
/// contexts; see [`ops`].
pub fn api_ops(data: &[u8]) -> Outcome {
    let Ok(script) = ops::Script::arbitrary_take_rest(Unstructured::new(data)) else {
        return Outcome::default();
    };
    let mut outcome = Outcome::default();
    ops::run(&script, &mut outcome);
    outcome
}
