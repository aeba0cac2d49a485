//! The targets: each turns the fuzzer's bytes into calls on a reused
//! context and checks the results with the oracles.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::LocalKey;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use v8cage::{Context, ContextOptions, Error, Value};

use crate::generators::{jitgen, jsgen, values};
use crate::oracles::differential::{
    self, flag_configurations, Printout, Protocol, DETERMINISTIC_FLAGS, INTERPRETED, PLAIN, QUICKJS,
};
use crate::oracles::{assert_typed, json as json_oracle, still_usable};
use crate::{ops, planted, quickjs, Outcome};

/// One fuzz target: what runs an input, and what shows the input as the
/// target reads it (source, generated program, value or op list).
pub struct Target {
    /// The name its drivers, corpus folders, options and xtask use.
    pub name: &'static str,
    pub run: fn(&[u8]) -> Outcome,
    pub describe: fn(&[u8]) -> String,
}

/// Every target: the one list. A new target is an entry here plus a driver
/// in `fuzz/fuzz_targets/` and `afl/src/bin/` (the corpus test checks that
/// the three agree).
pub const TARGETS: &[Target] = &[
    Target {
        name: "eval",
        run: eval,
        describe: as_text,
    },
    Target {
        name: "eval_gen",
        run: eval_gen,
        describe: |data| {
            jsgen::Program::arbitrary_take_rest(Unstructured::new(data))
                .map_or_else(|e| format!("(no program: {e})"), |p| p.source)
        },
    },
    Target {
        name: "roundtrip",
        run: roundtrip,
        describe: |data| {
            values::ArbitraryValue::arbitrary_take_rest(Unstructured::new(data))
                .map_or_else(|e| format!("(no value: {e})"), |v| format!("{:?}", v.0))
        },
    },
    Target {
        name: "json",
        run: json,
        describe: as_text,
    },
    Target {
        name: "worker_reply",
        run: worker_reply,
        describe: |data| format!("{data:02x?}"),
    },
    Target {
        name: "jit_diff",
        run: jit_diff,
        describe: describe_jitgen,
    },
    Target {
        name: "quickjs_diff",
        run: quickjs_diff,
        describe: describe_jitgen,
    },
    Target {
        name: "config_diff",
        run: config_diff,
        describe: |data| {
            let Some((&pick, rest)) = data.split_first() else {
                return "(no input)".into();
            };
            let configurations = flag_configurations();
            let (name, flags) = configurations[pick as usize % configurations.len()];
            format!(
                "// configuration {name}: {flags}\n{}",
                describe_jitgen(rest)
            )
        },
    },
    Target {
        name: "api_ops",
        run: api_ops,
        describe: |data| {
            ops::Script::arbitrary_take_rest(Unstructured::new(data))
                .map_or_else(|e| format!("(no op list: {e})"), |s| format!("{s:#?}"))
        },
    },
];

fn describe_jitgen(data: &[u8]) -> String {
    jitgen::Program::arbitrary_take_rest(Unstructured::new(data))
        .map_or_else(|e| format!("(no program: {e})"), |p| p.source)
}

fn as_text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

fn find(target: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == target)
}

/// Runs `target` on `data`. `None` if there is no such target.
pub fn run(target: &str, data: &[u8]) -> Option<Outcome> {
    find(target).map(|t| (t.run)(data))
}

/// What `target` makes of `data`, without running it. `None` if there is no
/// such target.
pub fn describe(target: &str, data: &[u8]) -> Option<String> {
    find(target).map(|t| (t.describe)(data))
}

/// Limits of the reused evaluation contexts. Inputs that loop or allocate
/// without end dominated the fuzzers' time (a 50 ms timeout was half of
/// `eval_gen`'s): 10 ms still runs every ordinary input to its end (they
/// take well under a millisecond, under ASan a few), and a 16 MiB heap ends
/// an allocation loop sooner. No oracle judges a `Timeout`, so there is
/// nothing a longer re-check could change.
pub fn fuzz_options() -> ContextOptions {
    ContextOptions {
        timeout: Some(Duration::from_millis(10) * TIMEOUT_SCALE.load(Ordering::Relaxed)),
        heap_limit: Some(16 << 20),
        max_result_bytes: 1 << 20,
        max_depth: 200,
        ..Default::default()
    }
}

/// Limits of the differential targets' contexts: room for a few TurboFan
/// compilations per input; a run that still hits one is not compared.
pub fn differential_options() -> ContextOptions {
    ContextOptions {
        timeout: Some(Duration::from_millis(250) * TIMEOUT_SCALE.load(Ordering::Relaxed)),
        ..fuzz_options()
    }
}

/// The factor [`scale_timeouts`] set: 1 in campaigns.
static TIMEOUT_SCALE: AtomicU32 = AtomicU32::new(1);

/// Multiplies the targets' timeouts by `factor` (at least 1) for contexts
/// made from now on. For tests of slow builds (sanitizers, valgrind) that
/// count how many runs were compared: a run cut by its timeout is not, and
/// such a count must not depend on how much CPU the test gets. Campaigns
/// keep the short timeouts.
pub fn scale_timeouts(factor: u32) {
    TIMEOUT_SCALE.store(factor.max(1), Ordering::Relaxed);
}

/// A reused context and how many inputs it has run.
type Reused = RefCell<Option<(Context, u32)>>;

/// Inputs a reused context runs before it is replaced: bounds what earlier
/// inputs can leave behind (a global that a later input turns into a
/// minutes-long V8 stall, memory), at the cost of one context creation per
/// this many inputs.
const INPUTS_PER_CONTEXT: u32 = 1000;

thread_local! {
    static JIT_COLD_CONTEXT: Reused = const { RefCell::new(None) };
    static JIT_HOT_CONTEXT: Reused = const { RefCell::new(None) };
    static QUICKJS_V8_CONTEXT: Reused = const { RefCell::new(None) };
    /// `config_diff`'s process contexts, by V8 flags.
    static CONFIG_CONTEXTS: RefCell<Vec<(String, Context)>> = const { RefCell::new(Vec::new()) };
    static EVAL_CONTEXT: Reused = const { RefCell::new(None) };
    static EVAL_GEN_CONTEXT: Reused = const { RefCell::new(None) };
    static ROUNDTRIP_CONTEXT: Reused = const { RefCell::new(None) };
    static JSON_CONTEXT: Reused = const { RefCell::new(None) };
}

/// Runs `f` on this thread's context for one target, creating it on first
/// use (and running `setup` in it), and replacing it when the heap is found
/// exhausted afterwards or after [`INPUTS_PER_CONTEXT`] inputs.
fn with_reused_context<R>(
    slot: &'static LocalKey<Reused>,
    setup: &'static str,
    f: impl FnOnce(&mut Context) -> R,
) -> R {
    with_reused_context_as(slot, fuzz_options, setup, f)
}

/// [`with_reused_context`] with other limits.
fn with_reused_context_as<R>(
    slot: &'static LocalKey<Reused>,
    options: fn() -> ContextOptions,
    setup: &'static str,
    f: impl FnOnce(&mut Context) -> R,
) -> R {
    crate::init_engine();
    slot.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (ctx, inputs) = cell.get_or_insert_with(|| {
            let mut ctx = Context::new(options()).expect("creating a fuzz context");
            if !setup.is_empty() {
                // Our own script, which ends: not under the inputs' short
                // timeout, which a loaded machine used up (a corpus test
                // failed with `Timeout` here beside two campaigns).
                let timeout = ctx.options().timeout;
                ctx.set_timeout(None);
                ctx.eval(setup).expect("fuzz context setup script");
                ctx.set_timeout(timeout);
            }
            (ctx, 0)
        });
        let result = f(ctx);
        *inputs += 1;
        if !still_usable(ctx) || *inputs >= INPUTS_PER_CONTEXT {
            *cell = None;
        }
        result
    })
}

/// The source `eval` or `eval_gen` runs for `data` (`None` for other
/// targets, or bytes that make no program).
fn source_of(target: &str, data: &[u8]) -> Option<String> {
    match target {
        "eval" => Some(String::from_utf8_lossy(data).into_owned()),
        "eval_gen" => jsgen::Program::arbitrary_take_rest(Unstructured::new(data))
            .ok()
            .map(|p| p.source),
        _ => None,
    }
}

/// Re-runs the source of an `eval`/`eval_gen` input alone, in a fresh
/// process context under the fuzz limits but a one-second timeout and a
/// one-second kill grace: how a libFuzzer timeout of those targets is
/// triaged. `Err(Timeout)` within a few seconds means V8 itself ignored the
/// termination (a builtin without interrupt checks, README "Known limits")
/// and the cage ended it; anything else needs a look (our hang, or a stall
/// that needs earlier inputs). The inputs' 10 ms would let a loaded machine
/// turn an ordinary input into a `Timeout`. `None` for other targets.
pub fn rerun_contained(target: &str, data: &[u8]) -> Option<Result<Value, Error>> {
    let source = source_of(target, data)?;
    crate::init_engine();
    let mut ctx = Context::new(ContextOptions {
        isolation: v8cage::Isolation::Process,
        timeout: Some(Duration::from_secs(1)),
        kill_grace: Duration::from_secs(1),
        ..fuzz_options()
    })
    .expect("creating a process context");
    Some(ctx.eval(&source))
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
            Ok(Value::String(text)) => json_oracle::assert_stringify_agrees(&value, text),
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
    json_oracle::assert_parse_agrees(&text, &parsed);
    Outcome::single("JSON.parse", parsed)
}

/// Limits under which `worker_reply` decodes: small, so that a reply that
/// breaks them is cheap to find.
pub fn worker_reply_options() -> ContextOptions {
    ContextOptions {
        max_result_bytes: 64 << 10,
        max_depth: 64,
        ..Default::default()
    }
}

/// `worker_reply`: bytes as the reply frame of a compromised worker
/// process, read and decoded by the host exactly as a process context does.
/// The host must not panic, must not allocate past its limits (the `Value`
/// tree stays within `HOST_BYTES_PER_RESULT_BYTE` x `max_result_bytes`,
/// nesting within `max_depth`); bytes that do not parse are
/// `Error::Crashed` (the decoder's own tests check which).
pub fn worker_reply(data: &[u8]) -> Outcome {
    let options = worker_reply_options();
    let result = v8cage::testing::worker_reply::decode(data, &options);
    // Any typed error is fine: a lying worker may claim any outcome.
    if let Ok(value) = &result {
        let (bytes, depth) = host_footprint(value);
        let budget = options.max_result_bytes * v8cage::HOST_BYTES_PER_RESULT_BYTE;
        assert!(
            bytes <= budget,
            "a reply became {bytes} host bytes (budget {budget})"
        );
        assert!(
            depth <= options.max_depth as usize + 1,
            "a reply nested {depth} deep"
        );
    }
    Outcome::single("decode", result)
}

/// Approximate bytes a `Value` tree takes in memory, and its depth
/// (iterative: the tree under test may be deep).
fn host_footprint(value: &Value) -> (usize, usize) {
    let (mut bytes, mut deepest) = (0, 0);
    let mut todo = vec![(value, 1)];
    while let Some((v, depth)) = todo.pop() {
        deepest = deepest.max(depth);
        bytes += size_of::<Value>();
        match v {
            Value::String(s) => bytes += s.len(),
            Value::Bytes(b) => bytes += b.len(),
            Value::Array(items) => todo.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(entries) => {
                for (key, item) in entries {
                    bytes += key.len() + size_of::<String>();
                    todo.push((item, depth + 1));
                }
            }
            _ => {}
        }
    }
    (bytes, deepest)
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

/// V8's printout of `program` under `protocol`, in the context of `slot`.
fn v8_printout(
    slot: &'static LocalKey<Reused>,
    protocol: &Protocol,
    program: &str,
    outcome: &mut Outcome,
) -> Printout {
    let script = differential::driver(protocol, program, planted::is_planted(protocol.name));
    let result = with_reused_context_as(slot, differential_options, "", |ctx| ctx.eval(&script));
    let printout = Printout::from_v8(&result);
    outcome.step(protocol.name, result);
    printout
}

/// `jit_diff`: a [`jitgen`] program in V8's interpreter and in each
/// optimising tier (Maglev where V8 has it, TurboFan; optimised, then
/// deoptimised) must print the same.
pub fn jit_diff(data: &[u8]) -> Outcome {
    let Ok(program) = jitgen::Program::arbitrary_take_rest(Unstructured::new(data)) else {
        return Outcome::default();
    };
    let mut outcome = Outcome::default();
    let cold = v8_printout(
        &JIT_COLD_CONTEXT,
        &INTERPRETED,
        &program.source,
        &mut outcome,
    );
    for tier in differential::optimizing_tiers() {
        let hot = v8_printout(&JIT_HOT_CONTEXT, tier, &program.source, &mut outcome);
        differential::compare(
            "jit_diff",
            (INTERPRETED.name, &cold),
            (tier.name, &hot),
            &program.source,
            false,
            differential::JIT_TRIAGE,
        );
    }
    outcome
}

/// `quickjs_diff`: a [`jitgen`] program in V8 and in QuickJS must print the
/// same, but for the differences in [`differential::QUICKJS_TRIAGE`].
pub fn quickjs_diff(data: &[u8]) -> Outcome {
    let Ok(program) = jitgen::Program::arbitrary_take_rest(Unstructured::new(data)) else {
        return Outcome::default();
    };
    let mut outcome = Outcome::default();
    let v8 = v8_printout(
        &QUICKJS_V8_CONTEXT,
        &INTERPRETED,
        &program.source,
        &mut outcome,
    );
    let portable = program.portable_source();
    let script = differential::driver(&QUICKJS, &portable, planted::is_planted(QUICKJS.name));
    let timeout = differential_options().timeout.unwrap_or_default();
    let other = quickjs::run(&script, timeout);
    outcome.step(QUICKJS.name, Ok(Value::String(format!("{other:?}"))));
    differential::compare(
        "quickjs_diff",
        ("V8", &v8),
        (QUICKJS.name, &other),
        &portable,
        program.uses_approximated_math(),
        differential::QUICKJS_TRIAGE,
    );
    outcome
}

/// The printout of `program` in this thread's process context whose worker
/// runs V8 with `flags` (made on first use, replaced when lost).
fn flagged_printout(
    flags: &str,
    program: &str,
    outcome: &mut Outcome,
    step: &str,
    perturb: bool,
) -> Printout {
    crate::init_engine();
    let script = differential::driver(&PLAIN, program, perturb);
    CONFIG_CONTEXTS.with(|cell| {
        let mut contexts = cell.borrow_mut();
        let at = match contexts.iter().position(|(f, _)| f == flags) {
            Some(at) => at,
            None => {
                let ctx = Context::new(ContextOptions {
                    isolation: v8cage::Isolation::Process,
                    v8_flags: flags.to_owned(),
                    ..differential_options()
                })
                .expect("creating a flagged process context");
                contexts.push((flags.to_owned(), ctx));
                contexts.len() - 1
            }
        };
        let ctx = &mut contexts[at].1;
        let result = ctx.eval(&script);
        let printout = Printout::from_v8(&result);
        // After a limit the worker may have been killed (a builtin that
        // ignores its timeout): start afresh rather than ask.
        let limited = matches!(printout, Printout::Cut(_));
        if limited || !still_usable(ctx) {
            contexts.remove(at);
        }
        outcome.step(step, result);
        printout
    })
}

/// `config_diff`: a [`jitgen`] program (after one byte that picks a flag
/// set of [`flag_configurations`]) in a worker on V8's default flags and in
/// one on the picked flags must print the same.
pub fn config_diff(data: &[u8]) -> Outcome {
    let Some((&pick, rest)) = data.split_first() else {
        return Outcome::default();
    };
    let Ok(program) = jitgen::Program::arbitrary_take_rest(Unstructured::new(rest)) else {
        return Outcome::default();
    };
    let configurations = flag_configurations();
    let (name, flags) = configurations[pick as usize % configurations.len()];
    let mut outcome = Outcome::default();
    let baseline = flagged_printout(
        DETERMINISTIC_FLAGS,
        &program.source,
        &mut outcome,
        "default",
        false,
    );
    let flagged = format!("{DETERMINISTIC_FLAGS} {flags}");
    // A planted difference goes to whichever flag set the input picked.
    let perturb = planted::is_planted("flagged");
    let other = flagged_printout(&flagged, &program.source, &mut outcome, name, perturb);
    differential::compare(
        "config_diff",
        ("default", &baseline),
        (name, &other),
        &program.source,
        false,
        differential::JIT_TRIAGE,
    );
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static SLOW_SETUP_CONTEXT: Reused = const { RefCell::new(None) };
    }

    /// A setup script that runs far longer than the inputs' 10 ms timeout
    /// (10^8 loop rounds) still completes, and the inputs then run under
    /// the short timeout again.
    #[test]
    fn setup_runs_without_the_inputs_timeout() {
        let timeout = with_reused_context(
            &SLOW_SETUP_CONTEXT,
            "var rounds = 0; for (let i = 0; i < 1e8; i++) rounds++;",
            |ctx| {
                assert_eq!(ctx.eval("rounds"), Ok(Value::Number(1e8)));
                ctx.options().timeout
            },
        );
        assert_eq!(timeout, fuzz_options().timeout);
    }
}
