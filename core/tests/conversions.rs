//! Every Value variant converts correctly both ways (JS -> Rust by `eval`,
//! Rust -> JS -> Rust by `call` of an identity function).

mod common;
use common::generous;
use rstest::rstest;
use std::time::Duration;
use v8cage::Isolation;

use v8cage::{Context, ContextOptions, Error, Function, HandleKind, Value};

fn ctx(isolation: Isolation) -> Context {
    let mut ctx = common::context(isolation).expect("context");
    ctx.eval("function id(x) { return x }").unwrap();
    ctx
}

fn eval(ctx: &mut Context, src: &str) -> Value {
    ctx.eval(src).unwrap_or_else(|e| panic!("{src}: {e:?}"))
}

fn obj(entries: &[(&str, Value)]) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

#[rstest]
fn primitives_from_js(#[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation) {
    let mut c = ctx(isolation);
    assert_eq!(eval(&mut c, "undefined"), Value::Undefined);
    assert_eq!(eval(&mut c, "null"), Value::Null);
    assert_eq!(eval(&mut c, "true"), Value::Bool(true));
    assert_eq!(eval(&mut c, "false"), Value::Bool(false));
    assert_eq!(eval(&mut c, "1.5"), Value::Number(1.5));
    assert_eq!(
        eval(&mut c, "2 ** 53 + 2"),
        Value::Number(9007199254740994.0)
    );
    assert!(matches!(eval(&mut c, "NaN"), Value::Number(n) if n.is_nan()));
    assert_eq!(eval(&mut c, "Infinity"), Value::Number(f64::INFINITY));
    assert_eq!(eval(&mut c, "-Infinity"), Value::Number(f64::NEG_INFINITY));
    let Value::Number(neg_zero) = eval(&mut c, "-0") else {
        panic!("-0 is a number")
    };
    assert!(
        neg_zero == 0.0 && neg_zero.is_sign_negative(),
        "-0 keeps its sign"
    );
    assert_eq!(eval(&mut c, "''"), Value::from(""));
}

#[rstest]
fn bigint_beyond_64_bits(#[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation) {
    let mut c = ctx(isolation);
    assert_eq!(
        eval(&mut c, "2n ** 200n"),
        Value::BigInt(
            num_bigint::BigUint::from(2u32)
                .pow(200)
                .to_string()
                .parse()
                .unwrap()
        )
    );
    assert_eq!(
        eval(&mut c, "-(2n ** 64n) - 1n"),
        Value::BigInt("-18446744073709551617".parse().unwrap())
    );
    assert_eq!(eval(&mut c, "0n"), Value::BigInt("0".parse().unwrap()));
    for text in [
        "0",
        "-1",
        "18446744073709551616",
        "-340282366920938463463374607431768211457",
    ] {
        let v = Value::BigInt(text.parse().unwrap());
        assert_eq!(c.call("id", std::slice::from_ref(&v)).unwrap(), v);
        assert_eq!(
            c.call("String", std::slice::from_ref(&v)).unwrap(),
            Value::from(text),
            "JS sees the same BigInt"
        );
    }
}

#[rstest]
fn strings_nul_surrogates_astral(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    assert_eq!(eval(&mut c, "'a\\0b'"), Value::from("a\0b"));
    assert_eq!(
        eval(&mut c, "'x\\uD800y'"),
        Value::from("x\u{FFFD}y"),
        "lone high surrogate"
    );
    assert_eq!(
        eval(&mut c, "'\\uDC00'"),
        Value::from("\u{FFFD}"),
        "lone low surrogate"
    );
    assert_eq!(
        eval(&mut c, "'\\uD83D\\uDE00'"),
        Value::from("😀"),
        "pair joins into one astral char"
    );
    assert_eq!(eval(&mut c, "'😀'.length"), Value::Number(2.0));
    // Latin-1 (one-byte in V8) beyond ASCII widens to two UTF-8 bytes.
    assert_eq!(
        eval(&mut c, "'caf\\u00e9 \\u00ff\\u0080!'"),
        Value::from("café ÿ\u{80}!")
    );
    assert_eq!(
        eval(&mut c, "({'\\u00e9t\\u00e9': '\\u00c0'})"),
        obj(&[("été", "À".into())])
    );
    for s in ["a\0b", "😀 ü 中", "", "\u{FFFD}"] {
        assert_eq!(c.call("id", &[Value::from(s)]).unwrap(), Value::from(s));
    }
    assert_eq!(
        c.call(
            "String.prototype.concat.call",
            &[Value::from("😀"), Value::from("\0")]
        )
        .unwrap(),
        Value::from("😀\0")
    );
}

#[rstest]
fn dates_valid_and_invalid(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    assert_eq!(
        eval(&mut c, "new Date(Date.UTC(2020, 1, 29, 12))"),
        Value::Date(1582977600000.0)
    );
    assert!(matches!(eval(&mut c, "new Date('nope')"), Value::Date(t) if t.is_nan()));
    assert_eq!(
        c.call("id", &[Value::Date(-1.5e12)]).unwrap(),
        Value::Date(-1.5e12)
    );
    let back = c.call("id", &[Value::Date(f64::NAN)]).unwrap();
    assert!(back.same_value(&Value::Date(f64::NAN)));
    c.eval("function iso(d) { return d.toISOString() }")
        .unwrap();
    assert_eq!(
        c.call("iso", &[Value::Date(0.0)]).unwrap(),
        Value::from("1970-01-01T00:00:00.000Z")
    );
}

#[rstest]
fn nested_arrays_and_objects_keep_order_and_holes(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    assert_eq!(
        eval(&mut c, "[1, [2, [3, []]], {z: 1, a: {b: [null]}}]"),
        Value::Array(vec![
            Value::Number(1.0),
            Value::Array(vec![
                Value::Number(2.0),
                Value::Array(vec![Value::Number(3.0), Value::Array(vec![])])
            ]),
            obj(&[
                ("z", Value::Number(1.0)),
                ("a", obj(&[("b", Value::Array(vec![Value::Null]))]))
            ]),
        ])
    );
    assert_eq!(
        eval(&mut c, "[, 1]"),
        Value::Array(vec![Value::Undefined, Value::Number(1.0)]),
        "holes read as undefined"
    );
    assert_eq!(
        eval(&mut c, "({b: 1, 2: 'two', a: 2, 1: 'one', [Symbol()]: 3})"),
        obj(&[
            ("1", "one".into()),
            ("2", "two".into()),
            ("b", 1.into()),
            ("a", 2.into())
        ]),
        "JS property order, symbols skipped"
    );
    assert_eq!(
        eval(
            &mut c,
            "Object.defineProperty({shown: 1}, 'hidden', {value: 2, enumerable: false})"
        ),
        obj(&[("shown", 1.into())])
    );
    assert_eq!(
        eval(&mut c, "Object.create({inherited: 1})"),
        obj(&[]),
        "own properties only"
    );
    let nested = Value::Array(vec![
        obj(&[("k", Value::Array(vec![Value::Null, obj(&[])]))]),
        Value::Array(vec![]),
    ]);
    assert_eq!(c.call("id", std::slice::from_ref(&nested)).unwrap(), nested);
    // "__proto__" passed in is plain data, not a prototype change.
    let proto = obj(&[("__proto__", Value::Number(5.0))]);
    assert_eq!(c.call("id", std::slice::from_ref(&proto)).unwrap(), proto);
}

#[rstest]
fn typed_arrays_and_buffers_are_bytes(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    assert_eq!(
        eval(&mut c, "new Uint8Array([1, 2, 255])"),
        Value::Bytes(vec![1, 2, 255])
    );
    assert_eq!(
        eval(&mut c, "new Uint8Array([9, 8, 7]).buffer"),
        Value::Bytes(vec![9, 8, 7])
    );
    assert_eq!(
        eval(&mut c, "new Uint8Array([0, 1, 2, 3, 4, 5]).subarray(2, 5)"),
        Value::Bytes(vec![2, 3, 4]),
        "a view with an offset copies only its window"
    );
    assert_eq!(
        eval(
            &mut c,
            "new Uint16Array(new Uint8Array([0, 1, 2, 3, 4, 5]).buffer, 2, 1)"
        ),
        Value::Bytes(vec![2, 3])
    );
    assert_eq!(
        eval(&mut c, "new DataView(new Uint8Array([5, 6, 7]).buffer, 1)"),
        Value::Bytes(vec![6, 7])
    );
    assert_eq!(
        eval(&mut c, "new Float64Array([1])"),
        Value::Bytes(1.0f64.to_ne_bytes().to_vec())
    );
    assert_eq!(
        eval(&mut c, "new SharedArrayBuffer(2)"),
        Value::Bytes(vec![0, 0])
    );
    assert_eq!(
        c.call("id", &[Value::Bytes(vec![])]).unwrap(),
        Value::Bytes(vec![])
    );
    c.eval("function describe(b) { return [b instanceof Uint8Array, b.length, b[1]] }")
        .unwrap();
    assert_eq!(
        c.call("describe", &[Value::Bytes(vec![7, 42, 9])]).unwrap(),
        Value::Array(vec![
            Value::Bool(true),
            Value::Number(3.0),
            Value::Number(42.0)
        ])
    );
}

#[rstest]
fn functions_become_their_names(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    assert_eq!(
        eval(&mut c, "(function named() {})"),
        Value::Function("named".into())
    );
    assert_eq!(
        eval(&mut c, "const inferred = () => 1; inferred"),
        Value::Function("inferred".into())
    );
    assert_eq!(eval(&mut c, "(class K {})"), Value::Function("K".into()));
    assert_eq!(
        eval(&mut c, "new Proxy(function f() {}, {})"),
        Value::Function(Function::named(""))
    );
    assert!(matches!(
        c.call("id", &[Value::Function("f".into())]),
        Err(Error::InvalidInput(_))
    ));
}

fn function(value: Value) -> Function {
    match value {
        Value::Function(f) => f,
        other => panic!("expected a function, got {other:?}"),
    }
}

#[rstest]
fn returned_functions_can_be_called_later(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    let add = function(eval(&mut c, "let base = 10; (a, b) => base + a + b"));
    assert!(add.is_callable());
    assert_eq!(
        c.call_function(&add, &[Value::from(1), Value::from(2)]),
        Ok(Value::Number(13.0))
    );
    // It is a live closure, not a copy.
    c.eval("base = 100").unwrap();
    assert_eq!(
        c.call_function(&add, &[Value::from(1), Value::from(2)]),
        Ok(Value::Number(103.0))
    );
    // Nested in a result, through a callable Proxy, and one returning a function.
    let Value::Object(entries) = eval(
        &mut c,
        "({ twice: x => 2 * x, proxied: new Proxy(() => 'p', {}), maker: () => () => 'inner' })",
    ) else {
        panic!("object")
    };
    let mut callees: Vec<Function> = entries.into_iter().map(|(_, v)| function(v)).collect();
    assert_eq!(
        c.call_function(&callees[0], &[Value::from(21)]),
        Ok(Value::Number(42.0))
    );
    assert_eq!(c.call_function(&callees[1], &[]), Ok(Value::from("p")));
    let inner = function(c.call_function(&callees[2], &[]).unwrap());
    assert_eq!(c.call_function(&inner, &[]), Ok(Value::from("inner")));
    callees.clear();
    // Errors inside are typed, and `this` is undefined.
    let thrower = function(eval(
        &mut c,
        "(function () { 'use strict'; return typeof this })",
    ));
    assert_eq!(c.call_function(&thrower, &[]), Ok(Value::from("undefined")));
    let thrower = function(eval(&mut c, "() => { throw new TypeError('no') }"));
    assert!(matches!(
        c.call_function(&thrower, &[]),
        Err(Error::Exception { ref name, .. }) if name == "TypeError"
    ));
}

#[rstest]
fn functions_only_work_on_their_own_context_and_with_a_handle(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut a = ctx(isolation);
    let mut b = ctx(isolation);
    let f = function(eval(&mut a, "() => 1"));
    assert!(matches!(
        b.call_function(&f, &[]),
        Err(Error::InvalidInput(message)) if message.contains("another context")
    ));
    assert!(matches!(
        a.call_function(&Function::named("f"), &[]),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(a.call_function(&f, &[]), Ok(Value::Number(1.0)));
}

#[rstest]
fn calling_a_function_obeys_the_timeout(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::generous_context(isolation);
    let spin = function(c.eval("() => { for (;;) {} }").unwrap());
    c.set_timeout(Some(Duration::from_millis(50)));
    assert_eq!(c.call_function(&spin, &[]), Err(Error::Timeout));
    c.set_timeout(Some(generous()));
    assert_eq!(c.eval("1 + 1"), Ok(Value::Number(2.0)));
}

#[rstest]
fn dropped_functions_are_released_and_collected(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    let make =
        "(() => { const f = () => 1; (globalThis.refs ||= []).push(new WeakRef(f)); return f })()";
    let kept = function(eval(&mut c, make));
    let dropped = function(eval(&mut c, make));
    drop(dropped);
    // Released before the next call into V8; then a full GC collects it.
    c.eval("0").unwrap();
    c.low_memory_notification();
    assert_eq!(
        c.eval("refs.map(r => r.deref() === undefined)").unwrap(),
        Value::Array(vec![Value::Bool(false), Value::Bool(true)]),
        "exactly the dropped function was collected"
    );
    assert_eq!(c.call_function(&kept, &[]), Ok(Value::Number(1.0)));
}

#[rstest]
fn a_result_full_of_functions_does_not_pin_them_all(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    let Value::Array(items) = eval(&mut c, "Array.from({ length: 70000 }, (_, i) => () => i)")
    else {
        panic!("array")
    };
    let callable = items
        .iter()
        .filter(|v| matches!(v, Value::Function(f) if f.is_callable()))
        .count();
    assert_eq!(callable, 65536);
    drop(items);
    let again = function(eval(&mut c, "() => 'after release'"));
    assert!(again.is_callable());
}

#[rstest]
fn numbers_round_trip_exactly(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    for n in [
        0.0,
        -0.0,
        1.5,
        -1e308,
        5e-324,
        f64::MAX,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ] {
        let back = c.call("id", &[Value::Number(n)]).unwrap();
        assert!(
            back.same_value(&Value::Number(n)),
            "{n} came back as {back:?}"
        );
    }
    c.eval("function isNegZero(x) { return Object.is(x, -0) }")
        .unwrap();
    assert_eq!(
        c.call("isNegZero", &[Value::Number(-0.0)]).unwrap(),
        Value::Bool(true)
    );
}

#[rstest]
fn every_variant_round_trips_through_js(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    let all = Value::Array(vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(true),
        Value::Number(-2.25),
        Value::BigInt("-99999999999999999999".parse().unwrap()),
        Value::from("s\0😀"),
        Value::Array(vec![Value::Array(vec![])]),
        obj(&[("a", Value::Null), ("b", Value::Bool(false))]),
        Value::Date(86_400_000.0),
        Value::Bytes(vec![0, 1, 2]),
    ]);
    assert!(c
        .call("id", std::slice::from_ref(&all))
        .unwrap()
        .same_value(&all));
}

/// Values a copy would misrepresent as a plain object come back as handles
/// (never a silent `{}`); a settled promise gives its outcome.
#[rstest]
fn other_objects_are_handles_and_promises_settle(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    let kind = |v: Value| match v {
        Value::Handle(h) => (h.kind(), h.label().to_owned()),
        other => panic!("not a handle: {other:?}"),
    };
    assert_eq!(
        kind(eval(&mut c, "new Map([[1, 2]])")),
        (HandleKind::Map, "Map".into())
    );
    assert_eq!(
        kind(eval(&mut c, "new Set()")),
        (HandleKind::Set, "Set".into())
    );
    assert_eq!(
        kind(eval(&mut c, "/re/g")),
        (HandleKind::RegExp, "RegExp".into())
    );
    assert_eq!(
        kind(eval(&mut c, "new TypeError('m')")),
        (HandleKind::Error, "TypeError".into())
    );
    assert_eq!(
        kind(eval(&mut c, "Symbol('s')")),
        (HandleKind::Symbol, "s".into())
    );
    assert_eq!(
        kind(eval(&mut c, "new Promise(() => {})")),
        (HandleKind::Promise, "Promise".into())
    );
    // Nested too.
    let Value::Array(items) = eval(&mut c, "[Symbol.iterator, new WeakMap()]") else {
        panic!()
    };
    assert_eq!(kind(items[1].clone()).0, HandleKind::Object);
    // Settled promises: the value, or the reason as a thrown exception.
    assert_eq!(eval(&mut c, "Promise.resolve(6 * 7)"), Value::from(42));
    assert_eq!(
        eval(&mut c, "(async () => { await null; return 'later' })()"),
        Value::from("later")
    );
    match c.eval("Promise.reject(new RangeError('no'))") {
        Err(Error::Exception { name, message, .. }) => {
            assert_eq!((name.as_str(), message.as_str()), ("RangeError", "no"))
        }
        other => panic!("{other:?}"),
    }
}

#[rstest]
fn serde_json_round_trip(#[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation) {
    let json = r#"{"a":[1,2.5,"x",null,true,{"b":-3}],"c":{}}"#;
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), json);
    let mut c = ctx(isolation);
    c.eval("function stringify(x) { return JSON.stringify(x) }")
        .unwrap();
    assert_eq!(
        c.call("stringify", &[v]).unwrap(),
        Value::from(json),
        "V8 agrees with serde_json"
    );
}

#[rstest]
fn call_resolves_dotted_paths_and_reports_bad_names(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    assert_eq!(
        c.call("Math.max", &[1.into(), 7.into(), 3.into()]).unwrap(),
        Value::Number(7.0)
    );
    c.eval("var obj = { k: 2, get() { return this.k } }")
        .unwrap();
    assert_eq!(
        c.call("obj.get", &[]).unwrap(),
        Value::Number(2.0),
        "`this` is the holder"
    );
    assert!(matches!(c.call("nope", &[]), Err(Error::InvalidInput(_))));
    assert!(matches!(c.call("obj.k", &[]), Err(Error::InvalidInput(_))));
    assert!(matches!(
        c.call("obj..get", &[]),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        c.call("nope.deeper", &[]),
        Err(Error::InvalidInput(_))
    ));
    c.eval("function thrower() { throw new TypeError('bad') }")
        .unwrap();
    assert!(
        matches!(c.call("thrower", &[]), Err(Error::Exception { name, .. }) if name == "TypeError")
    );
}

#[rstest]
fn deep_arguments_are_refused_not_overflowed(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = ctx(isolation);
    let mut v = Value::Null;
    for _ in 0..2000 {
        v = Value::Array(vec![v]);
    }
    assert!(matches!(c.call("id", &[v]), Err(Error::InvalidInput(_))));
    assert_eq!(c.eval("1 + 1").unwrap(), Value::Number(2.0));
}

/// Found by the eval fuzzer (corpus/regressions/eval/huge-bigint.js):
/// `2n ** 6961207n` is quick in V8, but its decimal text took 10 s to build
/// after the evaluation, outside any timeout. BigInts are bounded at 2^20
/// bits both ways.
#[rstest]
fn bigints_beyond_2_pow_20_bits_are_refused_quickly(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::context(isolation).unwrap();
    match c.eval("2n ** 6961207n") {
        Err(Error::Conversion(message)) => assert!(message.contains("BigInt"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.eval("2n ** 1048576n"),
        Err(Error::Conversion(_))
    ));
    // Below the bound, BigInts still convert exactly.
    let Ok(Value::String(v8_digits)) = c.eval("String(2n ** 100000n)") else {
        panic!("String of a BigInt")
    };
    assert_eq!(v8_digits.len(), 30103);
    let Ok(Value::BigInt(big)) = c.eval("2n ** 100000n") else {
        panic!("a BigInt")
    };
    assert_eq!(big.to_string(), v8_digits);
    assert_eq!(big.bits(), 100_001);
    assert!(matches!(
        "9".repeat(315_654).parse::<v8cage::BigInt>(),
        Err(Error::InvalidInput(_))
    ));
    let too_big = v8cage::BigInt::from_words(false, vec![u64::MAX; 16_385]);
    assert!(matches!(
        c.call("String", &[Value::BigInt(too_big)]),
        Err(Error::InvalidInput(_))
    ));
    let largest = v8cage::BigInt::from_words(true, vec![u64::MAX; 16_384]);
    c.eval("globalThis.isLargest = x => x === -(2n ** 1048576n - 1n)")
        .unwrap();
    assert_eq!(
        c.call("isLargest", &[Value::BigInt(largest)]),
        Ok(Value::Bool(true))
    );
    let longest = Value::BigInt("1".repeat(315_653).parse().unwrap());
    assert!(matches!(c.call("String", &[longest]), Ok(Value::String(s)) if s.len() == 315_653));
}

/// A result of 510 BigInts of 2^20 bits (64 MB on the wire) once took 77 s
/// past a 2 s timeout, building decimal text after the deadline was
/// disarmed. BigInts now stay binary: the words are the ones V8 had.
#[rstest]
fn many_large_bigints_convert_without_decimal_text(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = common::generous_context(isolation);
    let Ok(Value::Array(items)) = c.eval("Array(510).fill(2n ** 1048576n - 1n)") else {
        panic!("an array of BigInts")
    };
    assert_eq!(items.len(), 510);
    let Value::BigInt(big) = &items[509] else {
        panic!("a BigInt")
    };
    assert_eq!(big.bits(), 1_048_576);
    assert!(big.words().iter().all(|w| *w == u64::MAX));
}

/// `eval_with` streams the same value `eval` builds, under the same limits.
#[rstest]
fn events_carry_the_same_value_under_the_same_limits(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    use v8cage::Event;
    let mut c = ctx(isolation);
    let source = "({a: [1, 'two', null, undefined, true], b: {c: 2n ** 70n, d: new Date(5)}, e: new Uint8Array([1, 2])})";
    let built = c.eval(source).unwrap();
    let mut depth = 0usize;
    let mut kinds = Vec::new();
    let streamed = c.eval_with(source, |events| loop {
        let event = events.next()?;
        kinds.push(match &event {
            Event::ArrayStart(_) | Event::ObjectStart(_) => "open",
            Event::End => "end",
            Event::Key(_) => "key",
            _ => "scalar",
        });
        match event {
            Event::ArrayStart(_) | Event::ObjectStart(_) => depth += 1,
            Event::End => {
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            }
            _ => {}
        }
    });
    streamed.unwrap();
    assert_eq!(kinds.iter().filter(|k| **k == "open").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "key").count(), 5);
    // And the `value()` shortcut is `eval`.
    let again = c.eval_with(source, |events| events.value()).unwrap();
    assert!(again.same_value(&built));
    // A result over the bound fails before the closure sees an event.
    let mut small = Context::new(ContextOptions {
        max_result_bytes: 1 << 10,
        ..common::options(isolation)
    })
    .unwrap();
    let mut called = false;
    let refused = small.eval_with("'x'.repeat(4096)", |_| {
        called = true;
        Ok(())
    });
    assert!(matches!(refused, Err(Error::Conversion(_))), "{refused:?}");
    assert!(!called);
}
