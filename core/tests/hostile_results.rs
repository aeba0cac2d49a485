//! Results that cannot be converted sanely give `Error::Conversion` (or a
//! bounded value, or a timeout), never a hang, crash or huge allocation.

mod common;
use common::eval_until_timeout;
use common::generous_context;
use rstest::rstest;
use v8cage::Isolation;

use std::time::Duration;

use v8cage::{Context, ContextOptions, Error, Value};

fn conversion_error(result: Result<Value, Error>) -> String {
    match result {
        Err(Error::Conversion(message)) => message,
        other => panic!("expected Error::Conversion, got {other:?}"),
    }
}

#[rstest]
fn cycles_are_refused(#[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation) {
    let mut c = generous_context(isolation);
    assert!(conversion_error(c.eval("const o = {}; o.self = o; o")).contains("cycle"));
    assert!(conversion_error(c.eval("const a = [1]; a.push([a]); a")).contains("cycle"));
    // Shared (acyclic) references are fine: they are copied.
    let shared = c.eval("const s = {x: 1}; [s, s]").unwrap();
    let entry = Value::Object(vec![("x".into(), Value::Number(1.0))]);
    assert_eq!(shared, Value::Array(vec![entry.clone(), entry]));
    assert_eq!(c.eval("1 + 1").unwrap(), Value::Number(2.0));
}

/// The host's reader bounds nesting too (a worker's reply is not trusted);
/// whatever the shim lets through at the limit must still decode.
#[rstest]
fn results_at_the_depth_limit_decode(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    for max_depth in 1..=4u32 {
        let mut c = Context::new(ContextOptions {
            max_depth,
            ..common::options(isolation)
        })
        .unwrap();
        for levels in 1..=6 {
            for inner in ["1", "[]", "{}", "{a: 1}"] {
                let src = format!("{}{inner}{}", "[".repeat(levels), "]".repeat(levels));
                match c.eval(&src) {
                    Ok(_) => {}
                    Err(Error::Conversion(m)) => assert!(m.contains("deeper"), "{src}: {m}"),
                    other => panic!("{src} under max_depth {max_depth}: {other:?}"),
                }
            }
        }
    }
}

#[rstest]
fn depth_over_the_limit_is_refused(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    assert!(matches!(
        c.eval("let d = []; for (let i = 0; i < 998; i++) d = [d]; d"),
        Ok(Value::Array(_))
    ));
    assert!(
        conversion_error(c.eval("let e = []; for (let i = 0; i < 1001; i++) e = [e]; e"))
            .contains("deeper")
    );
    assert!(
        conversion_error(c.eval("let f = {}; for (let i = 0; i < 5000; i++) f = {f}; f"))
            .contains("deeper")
    );
}

#[rstest]
fn throwing_getters_are_conversion_errors(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let msg = conversion_error(c.eval("({ get boom() { throw new Error('kaboom') } })"));
    assert!(msg.contains("kaboom"), "{msg}");
    let msg = conversion_error(
        c.eval("[1, 2].map(() => 0).concat(new Proxy({}, { ownKeys() { throw 7 } }))"),
    );
    assert!(msg.contains('7'), "{msg}");
    assert_eq!(c.eval("'still fine'").unwrap(), Value::from("still fine"));
}

#[rstest]
fn a_proxy_looping_forever_times_out_during_conversion(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let short = Duration::from_millis(100);
    assert_eq!(
        eval_until_timeout(
            &mut c,
            short,
            "new Proxy({}, { ownKeys() { for (;;) {} } })"
        ),
        Err(Error::Timeout)
    );
    assert_eq!(
        eval_until_timeout(&mut c, short, "({ get slow() { for (;;) {} } })"),
        Err(Error::Timeout)
    );
    assert_eq!(c.eval("1 + 1").unwrap(), Value::Number(2.0));
}

#[rstest]
fn huge_sparse_array_is_refused_at_once(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    // Refused from its length: not even the first element is read.
    let sparse = "a = []; a.length = 4294967295;
                  Object.defineProperty(a, 0, { get() { globalThis.read = true; return 1 } });
                  a";
    assert!(conversion_error(c.eval(sparse)).contains("too large"));
    assert_eq!(c.eval("globalThis.read"), Ok(Value::Undefined));
    // Within the size limit a sparse array converts, holes as undefined.
    assert_eq!(
        c.eval("b = []; b.length = 3; b[1] = 1; b").unwrap(),
        Value::Array(vec![Value::Undefined, Value::Number(1.0), Value::Undefined])
    );
}

#[rstest]
fn a_256_mib_string_is_refused_not_copied(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let msg = conversion_error(c.eval("'x'.repeat(256 * 1024 * 1024)"));
    assert!(msg.contains("max_result_bytes"), "{msg}");
    assert_eq!(
        c.eval("'x'.repeat(1024).length").unwrap(),
        Value::Number(1024.0)
    );
}

#[rstest]
fn the_result_size_limit_is_configurable(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = Context::new(ContextOptions {
        max_result_bytes: 1000,
        ..common::options(isolation)
    })
    .unwrap();
    assert!(matches!(c.eval("'y'.repeat(990)"), Ok(Value::String(s)) if s.len() == 990));
    conversion_error(c.eval("'y'.repeat(2000)"));
    conversion_error(c.eval("new Uint8Array(2000)"));
    conversion_error(c.eval("Array(600).fill([])"));
    conversion_error(
        c.eval("Object.fromEntries(Array.from({length: 300}, (_, i) => ['k' + i, i]))"),
    );
}

#[rstest]
fn an_exponential_dag_is_bounded(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    // 2^40 leaves if copied naively.
    let dag = "let n = [1]; for (let i = 0; i < 40; i++) n = [n, n]; n";
    let mut small = Context::new(ContextOptions {
        max_result_bytes: 1 << 20,
        ..common::options(isolation)
    })
    .unwrap();
    conversion_error(small.eval(dag));
    // With the default 64 MiB budget: the size limit or the timeout, whichever comes first.
    let mut c = generous_context(isolation);
    c.set_timeout(Some(Duration::from_secs(2)));
    assert!(matches!(
        c.eval(dag),
        Err(Error::Conversion(_) | Error::Timeout)
    ));
}

#[rstest]
fn hostile_exceptions_are_reported_safely(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    match c.eval("throw 1") {
        Err(Error::Exception {
            name,
            message,
            stack: None,
            location: Some(location),
        }) => {
            assert_eq!((name.as_str(), message.as_str()), ("", "1"));
            let expected = ("<anonymous>", 1, 0, "throw 1");
            let found = (
                location.script.as_str(),
                location.line,
                location.column,
                location.source_line.as_str(),
            );
            assert_eq!(found, expected);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(c.eval("throw {code: 5}"), Err(Error::Exception { name, .. }) if name.is_empty())
    );
    assert!(
        matches!(c.eval("throw { get name() { throw 2 }, message: 'm' }"), Err(Error::Exception { message, .. }) if message == "m")
    );
    assert_eq!(
        eval_until_timeout(
            &mut c,
            Duration::from_millis(200),
            "throw { get message() { for (;;) {} } }"
        ),
        Err(Error::Timeout)
    );
    assert!(
        matches!(c.eval("throw Symbol('s')"), Err(Error::Exception { message, .. }) if message.contains("Symbol"))
    );
    match c.eval(
        "function inner() { throw new TypeError('bad') }\nfunction outer() { inner() }\nouter()",
    ) {
        Err(Error::Exception {
            name,
            message,
            stack: Some(stack),
            location: Some(location),
        }) => {
            assert_eq!((name.as_str(), message.as_str()), ("TypeError", "bad"));
            // Where the error was thrown, not where the evaluation started.
            assert_eq!((location.line, location.column), (1, 19));
            assert!(
                stack.contains("at inner") && stack.contains("at outer"),
                "{stack}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.eval("1 + 1").unwrap(), Value::Number(2.0));
}

/// A rope of 2^29 two-byte characters (built by `repeat` in milliseconds)
/// is refused from its length: copying any of it would flatten all of it
/// first, 1 GiB of heap (once 3.6 s past a 1 s timeout). Without a heap
/// limit nothing collects a flattened copy before the check below.
#[rstest]
fn a_huge_rope_is_refused_without_flattening_it(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::context(isolation).unwrap();
    let result = c.eval("'\\u0100'.repeat(2 ** 29 - 24)");
    assert!(matches!(result, Err(Error::Conversion(_))), "{result:?}");
    let total = c.heap_stats().total;
    assert!(total < 256 << 20, "heap grew to {total} bytes");
}

/// The same rope as an exception's stack: named by its length, not cut
/// (cutting flattens it too).
#[rstest]
fn a_huge_rope_in_an_error_report_is_named_not_copied(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::context(isolation).unwrap();
    let result = c.eval("throw { get stack() { return '\\u0100'.repeat(2 ** 29 - 24) } }");
    let Err(Error::Exception {
        stack: Some(stack), ..
    }) = result
    else {
        panic!("{result:?}")
    };
    assert_eq!(
        stack,
        "(a string of 536870888 characters, too long to copy)"
    );
    let total = c.heap_stats().total;
    assert!(total < 256 << 20, "heap grew to {total} bytes");
}

/// 60 million holes are 60 MB on the wire, within `max_result_bytes`, but
/// were 2.3 GB as `Value`s in the host; the host's copy is bounded too.
#[rstest]
fn a_result_cheap_on_the_wire_but_huge_in_the_host_is_refused(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    // The default bound, or in sanitizer builds 4 MiB in the same
    // proportions: JS runs slowly there (MSan's V8 simulates arm64: 27
    // minutes for the default's 7.4 million numbers).
    let max_result_bytes = if cfg!(v8cage_sanitized) {
        4 << 20
    } else {
        ContextOptions::default().max_result_bytes
    };
    let mut c = Context::new(ContextOptions {
        max_result_bytes,
        ..common::options(isolation)
    })
    .unwrap();
    // A byte each on the wire, a 32-byte `Value` each in the host.
    let holes = max_result_bytes / 10 * 9;
    let msg = conversion_error(c.eval(&format!("const a = []; a.length = {holes}; a")));
    assert!(msg.contains("host"), "{msg}");
    // The largest array of numbers within the wire bound still converts.
    let n = max_result_bytes / 9 - 1;
    let Ok(Value::Array(numbers)) = c.eval(&format!("Array.from({{length: {n}}}, (_, i) => i)"))
    else {
        panic!("an array of numbers")
    };
    assert_eq!(numbers.len(), n);
}
