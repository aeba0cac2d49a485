//! Hostile JavaScript meets its limits: heap limit and stack limit
//! (timeouts are in `timeout.rs`).
//! Each case returns a typed error and leaves the process and (where
//! possible) the same context working.

mod common;
use common::generous;
use rstest::rstest;
use v8cage::Isolation;

use v8cage::{Context, ContextOptions, Error, Value};

fn assert_usable(ctx: &mut Context) {
    assert_eq!(
        ctx.eval("1 + 1").unwrap(),
        Value::Number(2.0),
        "the context still evaluates"
    );
}

fn small_heap(isolation: Isolation) -> Context {
    Context::new(ContextOptions {
        heap_limit: Some(64 << 20),
        // A hang guard: filling 64 MiB takes well under a second natively,
        // over 30 s under valgrind.
        timeout: Some(generous()),
        ..common::options(isolation)
    })
    .unwrap()
}

#[rstest]
fn unbounded_allocation_is_out_of_memory_not_an_abort(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let loops = [
        "const a = []; while (true) a.push(new Array(1000).fill(1.5));",
        "let s = 'x'; const keep = []; while (true) { s += s.length; keep.push(s + 'y'); }",
        "const m = new Map(); for (let i = 0; ; i++) m.set(i, {i});",
        "var big = []; for (;;) big.push({a: 1, b: [1, 2, 3], c: 'str' + big.length});",
    ];
    for src in loops {
        let mut ctx = small_heap(isolation);
        assert_eq!(ctx.eval(src), Err(Error::OutOfMemory), "{src}");
        // The same context either works again or keeps reporting a clear error.
        for _ in 0..3 {
            match ctx.eval("1 + 1") {
                Ok(v) => assert_eq!(v, Value::Number(2.0)),
                Err(e) => assert_eq!(e, Error::OutOfMemory),
            }
        }
        let mut fresh = small_heap(isolation);
        assert_usable(&mut fresh);
    }
}

#[rstest]
fn out_of_memory_repeats_without_growing_the_limit(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = small_heap(isolation);
    let limit_before = ctx.heap_stats().limit;
    for _ in 0..4 {
        assert_eq!(
            ctx.eval("{ let a = []; while (true) a.push(new Array(1000).fill(0.5)); }"),
            Err(Error::OutOfMemory)
        );
        assert_usable(&mut ctx);
    }
    assert_eq!(
        ctx.heap_stats().limit,
        limit_before,
        "the grace room is taken back after each hit"
    );
}

#[rstest]
fn array_buffers_count_against_the_heap_limit(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = small_heap(isolation);
    let err = ctx
        .eval("const keep = []; for (;;) keep.push(new ArrayBuffer(8 << 20));")
        .unwrap_err();
    assert!(
        matches!(&err, Error::Exception { name, .. } if name == "RangeError")
            || err == Error::OutOfMemory,
        "{err:?}"
    );
    assert!(ctx.heap_stats().external <= 64 << 20);
    assert_usable(&mut ctx);
}

#[rstest]
fn heap_stats_report_the_limit(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let ctx = small_heap(isolation);
    let stats = ctx.heap_stats();
    assert!(stats.used > 0 && stats.used <= stats.total, "{stats:?}");
    assert!(
        stats.limit <= 80 << 20 && stats.limit >= 32 << 20,
        "limit near 64 MiB: {stats:?}"
    );
}

fn assert_range_error(result: Result<Value, Error>) {
    match result {
        Err(Error::Exception { name, message, .. }) => {
            assert_eq!(name, "RangeError");
            assert!(message.contains("call stack"), "{message}");
        }
        other => panic!("expected RangeError, got {other:?}"),
    }
}

#[rstest]
fn runaway_recursion_is_a_range_error(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::context(isolation).unwrap();
    assert_range_error(ctx.eval("function f() { return f() } f()"));
    assert_usable(&mut ctx);
}

#[rstest]
fn runaway_recursion_on_a_256k_thread_is_a_range_error(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::context(isolation).unwrap();
    ctx.eval("function id(x) { return x }").unwrap();
    // The deep argument is the caller's own: built and dropped (a
    // recursive drop: 900 levels overflowed 256 KiB in an MSan debug build) on
    // this thread; only the call that takes it runs on the small one.
    let mut arg = Value::Null;
    for _ in 0..900 {
        arg = Value::Array(vec![arg]);
    }
    let (mut ctx, _arg) = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            assert_range_error(ctx.eval("function f() { return f() } f()"));
            assert_range_error(ctx.eval("function g(n) { return [g(n + 1)] } g(0)"));
            // Deep results are bounded by this thread's stack, not only by max_depth.
            let deep = ctx.eval("let d = []; for (let i = 0; i < 999; i++) d = [d]; d");
            assert!(
                matches!(deep, Ok(Value::Array(_)) | Err(Error::Conversion(_))),
                "{deep:?}"
            );
            let back = ctx.call("id", std::slice::from_ref(&arg));
            assert!(
                matches!(
                    back,
                    Ok(Value::Array(_)) | Err(Error::InvalidInput(_) | Error::Conversion(_))
                ),
                "{back:?}"
            );
            assert_usable(&mut ctx);
            (ctx, arg)
        })
        .unwrap()
        .join()
        .expect("the 256 KiB thread survives");
    assert_usable(&mut ctx);
}

#[rstest]
fn deep_source_nesting_is_an_error(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::context(isolation).unwrap();
    let src = format!("{}1{}", "(".repeat(200_000), ")".repeat(200_000));
    let err = ctx.eval(&src).unwrap_err();
    assert!(
        matches!(&err, Error::Exception { name, .. } if name == "RangeError")
            || matches!(err, Error::Syntax { .. }),
        "{err:?}"
    );
    assert_usable(&mut ctx);
}

#[rstest]
fn memory_kept_past_the_limit_gives_clear_errors_and_no_ratchet(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = small_heap(isolation);
    let mut other = small_heap(isolation);
    for _ in 0..4 {
        // Each round keeps its allocation reachable from a global.
        assert_eq!(
            ctx.eval("var keep = (globalThis.keep || []); for (;;) keep.push(new Array(1000).fill(2.5));"),
            Err(Error::OutOfMemory)
        );
        match ctx.eval("1 + 1") {
            Ok(v) => assert_eq!(v, Value::Number(2.0)),
            Err(e) => assert_eq!(e, Error::OutOfMemory, "a refused context says why"),
        }
    }
    assert!(
        ctx.heap_stats().limit < 256 << 20,
        "the limit did not ratchet up: {:?}",
        ctx.heap_stats()
    );
    assert_usable(&mut other);
}

#[rstest]
fn single_huge_allocations_end_in_out_of_memory(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    // Each of these asks V8 for one object far larger than the limit.
    for src in [
        "JSON.stringify(new Array(2e7).fill(1)).length",
        "new Array(3e7).fill(1.5).length",
        "'ab'.repeat(2 ** 26).toUpperCase().length",
        "{ let a = [1]; for (;;) a = a.concat(a) }",
    ] {
        let mut ctx = small_heap(isolation);
        assert_eq!(ctx.eval(src), Err(Error::OutOfMemory), "{src}");
        match isolation {
            Isolation::InProcess => assert_usable(&mut ctx),
            // V8 finishes such an allocation before it stops the script; in
            // a worker that may pass the resident-memory bound (2 x 64 MiB +
            // 256 MiB), and the host kills it: the context is lost, as the
            // cage promises, and a new one works.
            _ => match ctx.eval("1 + 1") {
                Ok(two) => assert_eq!(two, Value::Number(2.0), "{src}"),
                Err(Error::Crashed { message, .. }) => {
                    assert!(message.contains("gone"), "{src}: {message}");
                    assert_usable(&mut small_heap(isolation));
                }
                Err(other) => panic!("{src}: then {other:?}"),
            },
        }
    }
}

#[rstest]
fn soft_and_hard_memory_limits_can_be_set_later(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::generous_context(isolation);
    assert_eq!(ctx.memory_limits_reached(), (false, false));
    ctx.set_memory_limits(Some(8 << 20), Some(32 << 20));
    // Below both: nothing happens.
    ctx.eval("globalThis.small = new Array(1000).fill(1.5); 0")
        .unwrap();
    assert_eq!(ctx.memory_limits_reached(), (false, false));
    // Runaway allocation passes the soft limit, then stops at the hard one.
    assert_eq!(
        ctx.eval("{ const a = []; for (;;) a.push(new Array(1000).fill(1.5)) }"),
        Err(Error::OutOfMemory)
    );
    assert_eq!(ctx.memory_limits_reached(), (true, true));
    assert!(
        ctx.heap_stats().used < 64 << 20,
        "stopped near the hard limit"
    );
    // The garbage goes; the context works again, and new limits clear the records.
    ctx.low_memory_notification();
    assert_usable(&mut ctx);
    ctx.set_memory_limits(None, None);
    assert_eq!(ctx.memory_limits_reached(), (false, false));
    ctx.eval("{ const a = []; for (let i = 0; i < 5000; i++) a.push(new Array(1000).fill(1.5)) }")
        .unwrap();
    assert_eq!(ctx.memory_limits_reached(), (false, false));
}

/// A heap limit V8 cannot honour is refused: 0 (which once meant "no
/// limit"), and huge values, whose sizing arithmetic wrapped to a ~50 MB heap
/// and then aborted the process.
#[rstest]
fn impossible_heap_limits_are_invalid_input(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    for limit in [
        0,
        1,
        v8cage::MIN_HEAP_LIMIT - 1,
        v8cage::max_heap_limit() + 1,
        usize::MAX,
        usize::MAX - (1 << 20),
    ] {
        let made = Context::new(ContextOptions {
            heap_limit: Some(limit),
            ..common::options(isolation)
        });
        assert!(
            matches!(made, Err(Error::InvalidInput(_))),
            "heap_limit {limit}: {made:?}"
        );
    }
    // The most this V8 holds: MAX_HEAP_LIMIT, or 4 GiB with pointer compression.
    for limit in [v8cage::MIN_HEAP_LIMIT, v8cage::max_heap_limit()] {
        let mut ctx = Context::new(ContextOptions {
            heap_limit: Some(limit),
            ..common::options(isolation)
        })
        .unwrap();
        assert_eq!(ctx.eval("[1, 2].length"), Ok(Value::Number(2.0)));
    }
}

/// WebAssembly memories are not allocated through the ArrayBuffer allocator,
/// so the heap limit once missed them: under 64 MiB, three filled 1 GiB
/// memories succeeded at 3.1 GB RSS. V8 counts them as external memory,
/// which the heap limit now bounds too; small memories still work.
#[rstest]
fn webassembly_memory_counts_against_the_heap_limit(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = small_heap(isolation);
    let made = c.eval(
        "globalThis.kept = [];
         for (let i = 0; i < 3; i++) {
           const m = new WebAssembly.Memory({initial: 16384});
           new Uint8Array(m.buffer).fill(1);
           kept.push(m);
         }
         kept.length",
    );
    assert_eq!(made, Err(Error::OutOfMemory));
    assert_eq!(
        c.eval("kept.length"),
        Ok(Value::Number(0.0)),
        "stopped at the first"
    );
    let small = "const s = new WebAssembly.Memory({initial: 100});
                 new Uint8Array(s.buffer).fill(3).length";
    assert_eq!(c.eval(small), Ok(Value::Number(6_553_600.0)));

    let mut grown = small_heap(isolation);
    let grow = grown.eval(
        "const g = new WebAssembly.Memory({initial: 1});
         g.grow(16383);
         new Uint8Array(g.buffer).fill(2).length",
    );
    assert_eq!(grow, Err(Error::OutOfMemory));
    // `g` keeps its 1 GiB: like a JS heap kept over its limit, the context
    // refuses further work (documented), and other contexts are unaffected.
    assert_eq!(grown.eval("1"), Err(Error::OutOfMemory));
    assert_eq!(small_heap(isolation).eval("1 + 1"), Ok(Value::Number(2.0)));
}

#[rstest]
fn heap_stats_count_webassembly_memory_as_external(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = small_heap(isolation);
    c.eval("globalThis.w = new WebAssembly.Memory({initial: 160})")
        .unwrap();
    assert!(c.heap_stats().external >= 160 << 16);
}
