//! `api_ops`: arbitrary sequences of API operations on up to three contexts,
//! each in-process or process-isolated.
//!
//! Oracle: no panic, only typed errors, each snippet's result is one its
//! entry allows, a terminated or timed-out context keeps working, and every
//! context alive at the end still evaluates `1+1`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arbitrary::{Arbitrary, Result, Unstructured};

use v8cage::{Context, ContextOptions, Error, Isolation, ModuleLoader, Snapshot, Value};

use crate::oracles::still_usable;
use crate::Outcome;

const SLOTS: usize = 3;
const MAX_OPS: usize = 24;

/// What a snippet may legitimately give (besides `Timeout`, which a short
/// timeout may always cause, `Terminated` while a terminate request is
/// pending, and `OutOfMemory` once earlier snippets filled the heap).
#[derive(Debug, Clone, Copy)]
enum Expect {
    Number(f64),
    /// Any value.
    Value,
    Syntax,
    /// A JS exception with this constructor name.
    Exception(&'static str),
    /// Only the limits (timeout, heap) can end it.
    Limit,
    Conversion,
    /// Any typed error or value.
    Anything,
}

/// Hostile and ordinary snippets, with what each must give.
const SNIPPETS: &[(&str, Expect)] = &[
    ("1+1", Expect::Number(2.0)),
    ("while (true) {}", Expect::Limit),
    (
        "for (;;) { try { for (;;) {} } finally { } }",
        Expect::Limit,
    ),
    ("throw new TypeError('t')", Expect::Exception("TypeError")),
    ("(", Expect::Syntax),
    ("}", Expect::Syntax),
    (
        "{ const a = []; for (;;) a.push(new Array(1e4).fill(1.5)) }",
        Expect::Limit,
    ),
    ("{ let s = 'ab'; for (;;) s += s + 'c' }", Expect::Anything),
    ("'x'.repeat(2 ** 27)", Expect::Anything),
    (
        "function r() { return r() } r()",
        Expect::Exception("RangeError"),
    ),
    ("{ const o = {}; o.o = o; o }", Expect::Conversion),
    ("Symbol('s')", Expect::Value),
    ("new Promise(() => {})", Expect::Value),
    (
        "Promise.reject(new TypeError('r'))",
        Expect::Exception("TypeError"),
    ),
    (
        "globalThis.keep = (globalThis.keep || []).concat([new Array(1e5).fill(0)]); keep.length",
        Expect::Value,
    ),
    (
        "new Proxy({}, { ownKeys() { for (;;) {} } })",
        Expect::Limit,
    ),
    (
        "Promise.resolve().then(function again() { return Promise.resolve().then(again) }); 1",
        Expect::Limit,
    ),
    ("new Uint8Array(2 ** 31)", Expect::Anything),
    ("[1, 'a', {b: null}, [2n, new Date(0)]]", Expect::Value),
    ("x => x", Expect::Value),
    ("({ get a() { throw new Error('g') } })", Expect::Conversion),
    (
        "Object.defineProperty(globalThis, 'JSON', { value: null, configurable: true }); 1",
        Expect::Number(1.0),
    ),
    ("delete globalThis.JSON; 2", Expect::Number(2.0)),
    (
        "globalThis.f = function (a, b) { return [a, b, this === globalThis] }; 3",
        Expect::Number(3.0),
    ),
    (
        "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)",
        Expect::Exception("TypeError"),
    ),
    ("'\\u{1F600}'.repeat(3) + '\\ud800'", Expect::Value),
    (
        "Error.prepareStackTrace = () => { for (;;) {} }; null.x",
        Expect::Anything,
    ),
    ("new Array(2 ** 32)", Expect::Exception("RangeError")),
    // Timers (with the event loop; a ReferenceError without): they run when
    // the context is next entered, under that operation's timeout.
    ("setTimeout(() => { for (;;) {} }, 0); 1", Expect::Anything),
    (
        "var t = setTimeout(() => { globalThis.fired = true }, 1); clearTimeout(t); 2",
        Expect::Anything,
    ),
    (
        "new Promise(r => setTimeout(() => r(5), 1))",
        Expect::Anything,
    ),
    (
        "({m: new Map([[1, {}]]), s: Symbol('x'), e: new Error('e'), a: [1, [2]]})",
        Expect::Value,
    ),
    ("var sab = new SharedArrayBuffer(8); sab", Expect::Value),
];

/// Dotted names `call` may be given: real functions, the one snippets
/// define, and names that do not resolve to a function.
const CALLEES: &[&str] = &[
    "f",
    "JSON.stringify",
    "JSON.parse",
    "Math.max",
    "String",
    "Array.of",
    "Object.freeze",
    "nonexistent",
    "Math.PI",
    "a..b",
    "",
    "keep.push",
];

#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Slot {
    A,
    B,
    C,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum HeapLimit {
    Mib16,
    Mib32,
    Mib64,
}

/// Where a created context's V8 runs.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Where {
    InProcess,
    /// A sandboxed worker process: the same oracle holds.
    Process,
}

/// Snippets that make functions, for `CallFunction`.
const FUNCTIONS: &[&str] = &[
    "(a, b) => a + b",
    "(function f(x) { return [x, typeof this]; })",
    "async x => x",
    "x => { for (;;) {} }",
    "x => { throw x; }",
    "(class K {})",
    "Math.max",
    "(function* () { yield 1; })",
    "(...r) => r.length",
];

/// Snippets that make promises, for `AwaitPromise`.
const PROMISES: &[&str] = &[
    "Promise.resolve(7)",
    "Promise.reject(new TypeError('no'))",
    "new Promise(() => {})",
    "new Promise(r => setTimeout(() => r(1), 1))",
    "(async () => { await null; return [3]; })()",
    "(async () => { await null; for (;;) {} })()",
    "Promise.all([1, Promise.resolve(2)])",
];

/// ES modules every context's loader serves (any other name is a loader
/// error), and the roots `EvalModule` evaluates, with what each must give.
const MODULES: &[(&str, &str)] = &[
    ("ok.mjs", "export const n = 1;"),
    ("cycle.mjs", "import { n } from './cycle.mjs'; export { n as m }; export const n = 2;"),
    ("broken.mjs", "export const = ;"),
    ("spin.mjs", "for (;;) {}"),
    ("grow.mjs", "const a = []; for (;;) a.push(new Array(1e4).fill(1.5));"),
    ("throws.mjs", "throw new TypeError('module');"),
    ("tla.mjs", "await new Promise(r => setTimeout(r, 1)); export const late = 3;"),
    ("chain.mjs", "import './chain2.mjs';"),
    ("chain2.mjs", "import './chain.mjs'; import './missing.mjs';"),
    ("dynamic.mjs", "export const all = await Promise.allSettled(['./ok.mjs', './gone.mjs', './broken.mjs'].map(m => import(m)));"),
];
const MODULE_ROOTS: &[(&str, Expect)] = &[
    (
        "import { n } from './ok.mjs'; export default n;",
        Expect::Value,
    ),
    (
        "import { m } from './cycle.mjs'; export { m };",
        Expect::Anything,
    ),
    ("import './broken.mjs';", Expect::Exception("SyntaxError")),
    ("import './spin.mjs';", Expect::Limit),
    ("import './grow.mjs';", Expect::Limit),
    ("import './throws.mjs';", Expect::Exception("TypeError")),
    ("export * from './tla.mjs';", Expect::Anything),
    ("import './chain.mjs';", Expect::Exception("Error")),
    ("export * from './dynamic.mjs';", Expect::Value),
    (
        "export default await import('./gone.mjs');",
        Expect::Exception("Error"),
    ),
    ("export const =", Expect::Syntax),
];

/// A snapshot of a little state, made once per process.
fn snapshot() -> Snapshot {
    static MADE: std::sync::OnceLock<Snapshot> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        Snapshot::create(
            "globalThis.fromSnapshot = [1, 2, 3]; function helper(n) { return n * 2 } \
             class Kept { constructor() { this.k = new Map([[1, 'one']]) } }",
        )
        .expect("the api_ops snapshot")
    })
    .clone()
}

fn module_loader() -> ModuleLoader {
    ModuleLoader::new(|name, _| {
        MODULES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, source)| (*source).to_owned())
            .ok_or_else(|| format!("no module {name}"))
    })
}

/// Extra V8 flags a process context's worker may get.
const WORKER_FLAGS: &[&str] = &[
    "",
    "--jitless",
    "--no-opt",
    "--always-sparkplug",
    "--single-threaded",
];

/// One operation. Indices into the snippet and callee tables wrap around.
#[derive(Debug, Arbitrary)]
pub enum Op {
    Create {
        slot: Slot,
        timeout_ms: u8,
        /// Into [`cpu_time_limit`]: none, or a few milliseconds.
        cpu_time_ms: u8,
        heap: HeapLimit,
        isolation: Where,
        object_handles: bool,
        event_loop: bool,
        /// Into [`WORKER_FLAGS`], for process contexts.
        worker_flags: u8,
        /// Starts from [`snapshot`]'s state (without extra worker flags).
        from_snapshot: bool,
    },
    /// Sets the soft and hard memory limits (in 256 KiB steps, 0: none).
    SetMemoryLimits {
        slot: Slot,
        soft: u8,
        hard: u8,
    },
    /// Makes a function ([`FUNCTIONS`]) and calls it by its handle, the
    /// function itself among the arguments when `itself`.
    CallFunction {
        slot: Slot,
        function: u8,
        args: Vec<SmallArg>,
        itself: bool,
    },
    /// Makes a promise ([`PROMISES`]) and waits for it up to `wait_ms`.
    AwaitPromise {
        slot: Slot,
        promise: u8,
        wait_ms: u8,
    },
    /// Evaluates a snippet and works on a handle in its result (a property
    /// read, `in`, keys, delete, a promise's state).
    Inspect {
        slot: Slot,
        snippet: u8,
        operation: u8,
    },
    /// Runs due timers and tasks.
    RunPending {
        slot: Slot,
    },
    /// Defines a host function and calls it from JavaScript.
    HostCall {
        slot: Slot,
    },
    Eval {
        slot: Slot,
        snippet: u8,
    },
    /// Evaluates a module ([`MODULE_ROOTS`]) importing from [`MODULES`].
    EvalModule {
        slot: Slot,
        root: u8,
    },
    /// Moves the context to a new thread for one evaluation and back.
    EvalOnOtherThread {
        slot: Slot,
        snippet: u8,
    },
    Call {
        slot: Slot,
        callee: u8,
        args: Vec<SmallArg>,
    },
    HeapStats {
        slot: Slot,
    },
    LowMemoryNotification {
        slot: Slot,
    },
    SetTimeout {
        slot: Slot,
        timeout_ms: u8,
    },
    /// Another thread calls `terminate()` over and over until the slot's
    /// next evaluation returns (or the slot is dropped).
    TerminateSoon {
        slot: Slot,
    },
    Drop {
        slot: Slot,
    },
}

/// Call arguments: small values, including ones `call` must refuse.
#[derive(Debug, Clone, Arbitrary)]
pub enum SmallArg {
    Number(f64),
    Text(String),
    Bool(bool),
    Null,
    BigInt(i64),
    /// A nesting deeper than the context allows: must be `InvalidInput`.
    TooDeep,
    /// A function value cannot go into JS: must be `InvalidInput`.
    Function,
}

impl SmallArg {
    fn to_value(&self) -> Value {
        match self {
            SmallArg::Number(n) => Value::Number(*n),
            SmallArg::Text(s) => Value::String(s.clone()),
            SmallArg::Bool(b) => Value::Bool(*b),
            SmallArg::Null => Value::Null,
            SmallArg::BigInt(n) => Value::BigInt((*n).into()),
            SmallArg::TooDeep => {
                let mut v = Value::Null;
                for _ in 0..1100 {
                    v = Value::Array(vec![v]);
                }
                v
            }
            SmallArg::Function => Value::Function("f".into()),
        }
    }
}

/// The decoded input: at most [`MAX_OPS`] operations.
#[derive(Debug)]
pub struct Script {
    pub ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Script {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut ops = Vec::new();
        while ops.len() < MAX_OPS && !u.is_empty() {
            ops.push(u.arbitrary()?);
        }
        Ok(Script { ops })
    }
}

/// A thread that keeps asking one context to terminate.
struct Hammer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Hammer {
    fn start(ctx: &Context) -> Hammer {
        let handle = ctx.terminate_handle();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                while !stop.load(Ordering::Acquire) {
                    handle.terminate();
                    std::thread::yield_now();
                }
            }
        });
        Hammer { stop, thread }
    }

    fn finish(self) {
        self.stop.store(true, Ordering::Release);
        self.thread.join().expect("terminate thread panicked");
    }
}

#[derive(Default)]
struct Live {
    ctx: Option<Context>,
    hammer: Option<Hammer>,
    // Its results are handles, not copies: a snippet whose copy would hit
    // a limit may be a handle instead.
    object_handles: bool,
}

impl Live {
    fn stop_hammer(&mut self) {
        if let Some(hammer) = self.hammer.take() {
            hammer.finish();
        }
    }
}

fn timeout(ms: u8) -> Option<Duration> {
    // Never unbounded: endless snippets must end.
    Some(Duration::from_millis(1 + u64::from(ms % 20)))
}

/// Half the contexts have a CPU-time limit of 1 to 16 ms besides their
/// timeout: endless snippets then end at whichever comes first.
fn cpu_time_limit(ms: u8) -> Option<Duration> {
    (ms % 2 == 1).then(|| Duration::from_millis(1 + u64::from(ms / 2 % 16)))
}

pub fn run(script: &Script, outcome: &mut Outcome) {
    crate::init_engine();
    let mut slots: [Live; SLOTS] = Default::default();
    for (n, op) in script.ops.iter().enumerate() {
        apply(op, &mut slots, n, outcome);
    }
    // Drop in a generated order happened above; the survivors must work.
    for live in &mut slots {
        live.stop_hammer();
        if let Some(ctx) = live.ctx.as_mut() {
            still_usable(ctx);
        }
    }
}

fn apply(op: &Op, slots: &mut [Live; SLOTS], n: usize, outcome: &mut Outcome) {
    let live = |slot: &Slot| *slot as usize;
    match op {
        Op::Create {
            slot,
            timeout_ms,
            cpu_time_ms,
            heap,
            isolation,
            object_handles,
            event_loop,
            worker_flags,
            from_snapshot,
        } => {
            let live = &mut slots[live(slot)];
            live.stop_hammer();
            let process = matches!(isolation, Where::Process);
            let v8_flags = if process && !from_snapshot {
                WORKER_FLAGS[usize::from(*worker_flags) % WORKER_FLAGS.len()]
            } else {
                ""
            };
            let heap_limit = match heap {
                HeapLimit::Mib16 => 16 << 20,
                HeapLimit::Mib32 => 32 << 20,
                HeapLimit::Mib64 => 64 << 20,
            };
            let mut ctx = Context::new(ContextOptions {
                timeout: timeout(*timeout_ms),
                cpu_time_limit: cpu_time_limit(*cpu_time_ms),
                heap_limit: Some(heap_limit),
                isolation: match isolation {
                    Where::InProcess => Isolation::InProcess,
                    Where::Process => Isolation::Process,
                },
                // A worker is killed (and its context lost) only if it
                // ignores its timeout this long: none of the snippets may.
                kill_grace: Duration::from_secs(10),
                object_handles: *object_handles,
                event_loop: *event_loop,
                v8_flags: v8_flags.to_owned(),
                module_loader: Some(module_loader()),
                snapshot: from_snapshot.then(snapshot),
                ..ContextOptions::default()
            })
            .expect("creating a context");
            if *from_snapshot {
                let kept = ctx.eval("helper(fromSnapshot.length) + new Kept().k.size");
                assert!(
                    matches!(kept, Ok(Value::Number(n)) if n == 7.0)
                        || matches!(kept, Err(Error::Timeout | Error::CpuTimeLimit)),
                    "a context from the snapshot lacks its state: {kept:?}"
                );
            }
            // Replacing drops the old context: drop while another lives.
            live.ctx = Some(ctx);
            live.object_handles = *object_handles;
        }
        Op::Eval { slot, snippet } | Op::EvalOnOtherThread { slot, snippet } => {
            let live = &mut slots[live(slot)];
            let Some(mut ctx) = live.ctx.take() else {
                return;
            };
            let (source, expect) = SNIPPETS[usize::from(*snippet) % SNIPPETS.len()];
            let (ctx, result) = if matches!(op, Op::EvalOnOtherThread { .. }) {
                std::thread::scope(|s| {
                    s.spawn(move || {
                        let result = ctx.eval(source);
                        (ctx, result)
                    })
                    .join()
                    .expect("evaluation thread panicked")
                })
            } else {
                let result = ctx.eval(source);
                (ctx, result)
            };
            live.ctx = Some(ctx);
            let terminating = live.hammer.is_some();
            live.stop_hammer();
            let handle = live.object_handles && matches!(result, Ok(Value::Handle(_)));
            if !handle {
                check(source, expect, &result, terminating);
            }
            outcome.step(format!("#{n} eval {source:?}"), result);
        }
        Op::EvalModule { slot, root } => {
            let live = &mut slots[live(slot)];
            let Some(ctx) = live.ctx.as_mut() else {
                return;
            };
            let (source, expect) = MODULE_ROOTS[usize::from(*root) % MODULE_ROOTS.len()];
            let result = ctx.eval_module("main.mjs", source);
            let terminating = live.hammer.is_some();
            live.stop_hammer();
            let handle = live.object_handles && matches!(result, Ok(Value::Handle(_)));
            // A top-level await without timers never settles: InvalidInput.
            let unsettled =
                matches!(&result, Err(Error::InvalidInput(m)) if m.contains("cannot settle"));
            if !handle && !unsettled {
                check(source, expect, &result, terminating);
            }
            outcome.step(format!("#{n} module {source:?}"), result);
        }
        Op::Call { slot, callee, args } => {
            let live = &mut slots[live(slot)];
            let Some(ctx) = live.ctx.as_mut() else {
                return;
            };
            let callee = CALLEES[usize::from(*callee) % CALLEES.len()];
            let args: Vec<Value> = args.iter().take(4).map(SmallArg::to_value).collect();
            let bad_arg = args
                .iter()
                .any(|a| matches!(a, Value::Function(_) | Value::Array(_)));
            let result = ctx.call(callee, &args);
            let terminating = live.hammer.is_some();
            live.stop_hammer();
            match &result {
                Err(Error::InvalidInput(_)) => {}
                _ if bad_arg => panic!("call with an unsendable argument gave {result:?}"),
                Err(Error::Engine(e)) => panic!("call {callee} gave an internal error: {e}"),
                Err(Error::Terminated) if !terminating => {
                    panic!("call {callee} terminated with no terminate request")
                }
                Err(Error::Syntax { .. }) => panic!("call {callee} gave a syntax error"),
                _ => {}
            }
            outcome.step(format!("#{n} call {callee}"), result);
        }
        Op::Inspect {
            slot,
            snippet,
            operation,
        } => {
            let live = &mut slots[live(slot)];
            let Some(ctx) = live.ctx.as_mut() else {
                return;
            };
            let (source, _) = SNIPPETS[usize::from(*snippet) % SNIPPETS.len()];
            let Ok(target @ (Value::Handle(_) | Value::Function(_))) = ctx.eval(source) else {
                return;
            };
            let key = Value::from(["a", "0", "length", "stack", "1"][usize::from(*operation) % 5]);
            let result = match operation % 5 {
                0 => ctx.get(Some(&target), &key),
                1 => ctx.has(Some(&target), &key).map(Value::Bool),
                2 => ctx.keys(Some(&target)).map(Value::Array),
                3 => ctx.delete(Some(&target), &key).map(Value::Bool),
                _ => ctx.promise_state(&target).map(|_| Value::Null),
            };
            let terminating = live.hammer.is_some();
            live.stop_hammer();
            typed(
                &format!("{operation} on {source:?}"),
                &result,
                terminating,
                true,
            );
            outcome.step(format!("#{n} inspect {source:?}"), result);
        }
        Op::SetMemoryLimits { slot, soft, hard } => {
            let Some(ctx) = slots[live(slot)].ctx.as_mut() else {
                return;
            };
            let steps = |n: u8| (n != 0).then(|| usize::from(n) << 18);
            ctx.set_memory_limits(steps(*soft), steps(*hard));
            assert_eq!(
                ctx.memory_limits_reached(),
                (false, false),
                "setting memory limits clears their records"
            );
        }
        Op::CallFunction {
            slot,
            function,
            args,
            itself,
        } => {
            let live = &mut slots[live(slot)];
            let Some(ctx) = live.ctx.as_mut() else {
                return;
            };
            let source = FUNCTIONS[usize::from(*function) % FUNCTIONS.len()];
            let Ok(Value::Function(made)) = ctx.eval(source) else {
                return;
            };
            let mut args: Vec<Value> = args.iter().take(3).map(SmallArg::to_value).collect();
            let bad_arg = args
                .iter()
                .any(|a| matches!(a, Value::Function(_) | Value::Array(_)));
            if *itself {
                args.push(Value::Function(made.clone()));
            }
            let result = ctx.call_function(&made, &args);
            let terminating = live.hammer.is_some();
            live.stop_hammer();
            if bad_arg {
                assert!(
                    matches!(result, Err(Error::InvalidInput(_))),
                    "call_function with an unsendable argument gave {result:?}"
                );
            } else {
                typed(
                    &format!("call_function {source}"),
                    &result,
                    terminating,
                    false,
                );
            }
            outcome.step(format!("#{n} call_function {source}"), result);
        }
        Op::AwaitPromise {
            slot,
            promise,
            wait_ms,
        } => {
            let live = &mut slots[live(slot)];
            let Some(ctx) = live.ctx.as_mut() else {
                return;
            };
            let source = PROMISES[usize::from(*promise) % PROMISES.len()];
            // Settled promises are copied unless the context hands out
            // handles; only a handle is left to wait for.
            let Ok(made @ Value::Handle(_)) = ctx.eval(source) else {
                return;
            };
            let wait = Duration::from_millis(u64::from(*wait_ms % 20));
            let result = ctx
                .await_promise(&made, Some(wait))
                .map(|state| Value::from(format!("{state:?}")));
            let terminating = live.hammer.is_some();
            live.stop_hammer();
            typed(&format!("await {source}"), &result, terminating, false);
            outcome.step(format!("#{n} await {source}"), result);
        }
        Op::RunPending { slot } => {
            let live = &mut slots[live(slot)];
            let Some(ctx) = live.ctx.as_mut() else {
                return;
            };
            let result = ctx.run_pending().map(|_| Value::Null);
            let terminating = live.hammer.is_some();
            live.stop_hammer();
            typed("run_pending", &result, terminating, false);
            outcome.step(format!("#{n} run_pending"), result);
        }
        Op::HostCall { slot } => {
            let live = &mut slots[live(slot)];
            let Some(ctx) = live.ctx.as_mut() else {
                return;
            };
            let counted = Arc::new(|args: Vec<Value>| Ok(Value::from(args.len())));
            if let Err(e) = ctx.expose("host", counted) {
                typed("expose", &Err(e), live.hammer.is_some(), false);
                live.stop_hammer();
                return;
            }
            let result = ctx.eval("host(1, 'two', [3])");
            let terminating = live.hammer.is_some();
            live.stop_hammer();
            typed("host call", &result, terminating, false);
            if let Ok(value) = &result {
                assert_eq!(*value, Value::from(3), "a host function's result");
            }
            outcome.step(format!("#{n} host call"), result);
        }
        Op::HeapStats { slot } => {
            if let Some(ctx) = slots[live(slot)].ctx.as_ref() {
                let stats = ctx.heap_stats();
                assert!(stats.limit > 0, "heap limit reported as 0: {stats:?}");
            }
        }
        Op::LowMemoryNotification { slot } => {
            if let Some(ctx) = slots[live(slot)].ctx.as_mut() {
                ctx.low_memory_notification();
            }
        }
        Op::SetTimeout { slot, timeout_ms } => {
            if let Some(ctx) = slots[live(slot)].ctx.as_mut() {
                ctx.set_timeout(timeout(*timeout_ms));
            }
        }
        Op::TerminateSoon { slot } => {
            let live = &mut slots[live(slot)];
            if let (Some(ctx), None) = (live.ctx.as_ref(), live.hammer.as_ref()) {
                live.hammer = Some(Hammer::start(ctx));
            }
        }
        Op::Drop { slot } => {
            let live = &mut slots[live(slot)];
            // Dropped while the hammer may still be calling terminate().
            live.ctx = None;
            live.stop_hammer();
        }
    }
}

/// The outcome of a handle operation, `run_pending` or a host call: a
/// value or a typed error, never an internal one; `InvalidInput` only
/// where the operation may not fit its target.
fn typed(what: &str, result: &Result<Value, Error>, terminating: bool, may_not_fit: bool) {
    let allowed = match result {
        Ok(_) => true,
        Err(Error::Terminated) => terminating,
        Err(Error::InvalidInput(_)) => may_not_fit,
        Err(Error::Engine(_) | Error::Crashed { .. }) => false,
        Err(_) => true,
    };
    assert!(
        allowed,
        "{what} gave {result:?} (terminate pending: {terminating})"
    );
}

fn check(source: &str, expect: Expect, result: &Result<Value, Error>, terminating: bool) {
    let allowed = match (result, expect) {
        (Err(Error::Timeout | Error::CpuTimeLimit | Error::OutOfMemory), _) => true,
        (Err(Error::Terminated), _) => terminating,
        (Err(Error::Engine(_) | Error::InvalidInput(_)), _) => false,
        (_, Expect::Anything) => true,
        (Ok(Value::Number(got)), Expect::Number(want)) => *got == want,
        (Ok(_), Expect::Value) => true,
        (Err(Error::Syntax { .. }), Expect::Syntax) => true,
        (Err(Error::Exception { name, .. }), Expect::Exception(want)) => name == want,
        (Err(Error::Conversion(_)), Expect::Conversion) => true,
        _ => false,
    };
    assert!(
        allowed,
        "snippet {source:?} gave {result:?}, expected {expect:?} (terminate pending: {terminating})"
    );
}
