//! Bad or unusual input gets a clear, typed error and loses nothing.

mod common;

use rstest::rstest;
use v8cage::Isolation;
use v8cage::{Context, ContextOptions, Error, Value};

#[rstest]
fn source_with_nul_bytes(#[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation) {
    let mut c = common::context(isolation).unwrap();
    assert_eq!(
        c.eval("'a\0b'").unwrap(),
        Value::from("a\0b"),
        "a NUL inside a string literal"
    );
    assert_eq!(
        c.eval("1 + 1 // \0 in a comment").unwrap(),
        Value::Number(2.0)
    );
    assert!(
        matches!(c.eval("1 +\0 1"), Err(Error::Syntax { .. })),
        "a bare NUL is a syntax error"
    );
}

#[rstest]
fn ten_megabytes_of_source(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::context(isolation).unwrap();
    let mut src = String::with_capacity(10 << 20);
    let mut n = 0u64;
    while src.len() < 10 << 20 {
        src.push_str("x = (typeof x === 'number' ? x : 0) + 1;\n");
        n += 1;
    }
    assert_eq!(c.eval(&src).unwrap(), Value::Number(n as f64));
    let literal = format!("'{}'.length", "z".repeat(10 << 20));
    assert_eq!(c.eval(&literal).unwrap(), Value::Number((10 << 20) as f64));
}

#[rstest]
fn syntax_errors_carry_line_and_column(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::context(isolation).unwrap();
    match c.eval("let ok = 1;\nlet bad = ;\n") {
        Err(Error::Syntax {
            message,
            line,
            column,
        }) => {
            assert_eq!((line, column), (2, 11), "{message}");
            assert!(message.contains("Unexpected token"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match c.eval("\n\n    function (") {
        // "Function statements require a function name", at `function`.
        Err(Error::Syntax { line, column, .. }) => assert_eq!((line, column), (3, 5)),
        other => panic!("{other:?}"),
    }
    // A SyntaxError thrown while running (not while compiling) is an exception.
    assert!(
        matches!(c.eval("JSON.parse('{')"), Err(Error::Exception { name, .. }) if name == "SyntaxError")
    );
    assert_eq!(
        c.eval("ok").ok(),
        None,
        "the failed script declared nothing"
    );
    assert_eq!(c.eval("1 + 1").unwrap(), Value::Number(2.0));
}

#[rstest]
fn empty_and_blank_source(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::context(isolation).unwrap();
    assert_eq!(c.eval("").unwrap(), Value::Undefined);
    assert_eq!(
        c.eval("  \n\t// only a comment\n").unwrap(),
        Value::Undefined
    );
    assert_eq!(c.eval(";").unwrap(), Value::Undefined);
}

/// Each of these, given to V8, would end the test process (exit 0 after
/// printing help, an abort, or prints on stdout); the contexts below prove
/// that none of them reached V8.
#[rstest]
fn flags_that_would_exit_the_process_are_refused(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    for flags in [
        "--stack-trace-limit=5 --help",
        "--help=1",
        "--help=true",
        "-h",
        "--no-help",
        "--print_flag_values",
        "--abort-on-uncaught-exception",
        "--allow-natives-syntax",
    ] {
        assert!(
            matches!(v8cage::set_flags(flags), Err(Error::InvalidInput(_))),
            "{flags} was accepted"
        );
    }
    let mut c = common::context(isolation).unwrap();
    assert_eq!(
        c.eval("throw new Error('x')").unwrap_err().to_string(),
        "Error: x"
    );
    assert!(matches!(
        c.eval("%DebugPrint(1)"),
        Err(Error::Syntax { .. })
    ));
}

#[rstest]
fn flags_after_start_are_refused(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let _c = common::context(isolation).unwrap();
    assert!(matches!(
        v8cage::set_flags("--jitless"),
        Err(Error::InvalidInput(_))
    ));
    assert!(v8cage::v8_version().starts_with(char::is_numeric));
}

#[rstest]
fn bad_call_arguments(#[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation) {
    let mut c = common::context(isolation).unwrap();
    c.eval("function id(x) { return x }").unwrap();
    for not_decimal in ["1.5", "", "-", "0x10"] {
        assert!(matches!(
            not_decimal.parse::<v8cage::BigInt>(),
            Err(Error::InvalidInput(_))
        ));
    }
    assert!(matches!(c.call("", &[]), Err(Error::InvalidInput(_))));
    assert!(matches!(c.call("id\0", &[]), Err(Error::InvalidInput(_))));
    assert_eq!(
        c.call("id", &[Value::from("ok")]).unwrap(),
        Value::from("ok")
    );
}

#[rstest]
fn options_are_validated(#[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation) {
    use v8cage::ContextOptions;
    let bad_depth = ContextOptions {
        max_depth: 0,
        ..common::options(isolation)
    };
    assert!(matches!(
        Context::new(bad_depth),
        Err(Error::InvalidInput(_))
    ));
    let bad_size = ContextOptions {
        max_result_bytes: usize::MAX,
        ..common::options(isolation)
    };
    assert!(matches!(
        Context::new(bad_size),
        Err(Error::InvalidInput(_))
    ));
}

#[rstest]
fn promise_jobs_run_before_eval_returns(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::context(isolation).unwrap();
    c.eval("var seen = []; Promise.resolve(5).then(v => seen.push(v)); (async () => { await null; seen.push(6) })()").unwrap();
    assert_eq!(
        c.eval("seen").unwrap(),
        Value::Array(vec![Value::Number(5.0), Value::Number(6.0)])
    );
    // A rejected promise nobody handles is not an error of the eval.
    assert!(matches!(
        c.eval("Promise.reject(new Error('x')); 1"),
        Ok(Value::Number(_))
    ));
}

#[rstest]
fn atomics_wait_cannot_block_the_host(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::context(isolation).unwrap();
    let r = c.eval("Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)");
    assert!(
        matches!(r, Err(Error::Exception { ref name, .. }) if name == "TypeError"),
        "{r:?}"
    );
}

/// Found by AFL (corpus/regressions/eval/template-backslash-at-end.js): V8
/// places this end-of-input error past the end of the source, with no line.
#[rstest]
fn syntax_errors_at_the_very_end_still_have_a_position(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::context(isolation).unwrap();
    for (source, want) in [
        ("`a\\", (1, 4)),
        ("1 +\n`\\", (2, 3)),
        ("x;\r\n\u{2028}`é\\", (3, 4)),
    ] {
        match c.eval(source) {
            Err(Error::Syntax { line, column, .. }) => {
                assert_eq!((line, column), want, "{source:?}")
            }
            other => panic!("{source:?}: {other:?}"),
        }
    }
}

/// `max_result_bytes` bounds arguments too, checked before anything is
/// copied: a 100 MiB string or byte array once went whole into a context
/// with a 64 MiB heap.
#[rstest]
fn arguments_are_bounded_by_max_result_bytes(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = Context::new(ContextOptions {
        max_result_bytes: 1 << 20,
        ..common::options(isolation)
    })
    .unwrap();
    c.eval("function size(x) { return x.length }").unwrap();
    let fits = Value::String("x".repeat((1 << 20) - 64));
    assert_eq!(
        c.call("size", &[fits]),
        Ok(Value::Number(((1 << 20) - 64) as f64))
    );
    for too_big in [
        Value::String("x".repeat(1 << 20)),
        Value::Bytes(vec![7; 1 << 20]),
        Value::Array(vec![Value::Number(1.0); 1 << 17]),
        Value::Object(vec![("k".repeat(1 << 20), Value::Null)]),
    ] {
        assert!(
            matches!(c.call("size", &[too_big]), Err(Error::InvalidInput(m)) if m.contains("max_result_bytes")),
        );
    }
    let mut default = common::context(isolation).unwrap();
    default
        .eval("function size(x) { return x.length }")
        .unwrap();
    let huge = Value::Bytes(vec![0; 100 << 20]);
    assert!(matches!(
        default.call("size", &[huge]),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(c.call("size", &[Value::from("ok")]), Ok(Value::Number(2.0)));
}
