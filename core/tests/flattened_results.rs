//! Plain objects and arrays in results are read by a JS flattener
//! (core/shim/flatten.cc), not property by property through V8's API. What
//! a script can observe must not change: the same reads in the same order,
//! the same values (text included), the same limits and errors.

mod common;
use std::sync::{Arc, Mutex};

use common::generous_context;
use rstest::rstest;
use v8cage::{Context, ContextOptions, Error, Isolation, Value};

fn text(v: &str) -> Value {
    Value::String(v.into())
}

/// Getters in nested objects and arrays run once each, depth first, in
/// property order, interleaved with values the encoder places itself.
#[rstest]
fn reads_run_once_each_depth_first_in_property_order(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let got = c
        .eval(
            "var order = [];
             const logged = (name, value) => ({ get() { order.push(name); return value; }, enumerable: true });
             const inner = Object.defineProperties({}, { x: logged('inner.x', 1), y: logged('inner.y', [2, 3]) });
             const list = [10, 20];
             Object.defineProperty(list, 1, logged('list[1]', { deep: true }));
             const root = Object.defineProperties({}, {
               a: logged('a', inner),
               b: logged('b', new Date(0)),
               c: logged('c', list),
               d: logged('d', 7n),
             });
             root",
        )
        .unwrap();
    let order = c.eval("order.join(' ')").unwrap();
    assert_eq!(order, text("a inner.x inner.y b c list[1] d"));
    let Value::Object(entries) = got else {
        panic!("not an object: {got:?}")
    };
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "d"]);
    assert_eq!(entries[1].1, Value::Date(0.0));
    assert_eq!(
        entries[2].1,
        Value::Array(vec![
            Value::Number(10.0),
            Value::Object(vec![("deep".into(), Value::Bool(true))])
        ])
    );
}

/// A Proxy converts as the object its traps describe (never as an array,
/// even around one), with the traps V8's own key listing calls.
#[rstest]
fn a_proxy_converts_through_its_traps(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let got = c
        .eval(
            "var traps = [];
             new Proxy([1, 2], {
               ownKeys(t) { traps.push('ownKeys'); return ['0', 'length', 'z']; },
               getOwnPropertyDescriptor(t, k) {
                 traps.push('gopd ' + k);
                 return k === 'z' ? { value: 9, enumerable: true, configurable: true }
                                  : Reflect.getOwnPropertyDescriptor(t, k);
               },
               get(t, k) { traps.push('get ' + String(k)); return k === 'z' ? 'zed' : t[k]; },
             })",
        )
        .unwrap();
    assert_eq!(
        got,
        Value::Object(vec![
            ("0".into(), Value::Number(1.0)),
            ("z".into(), text("zed"))
        ])
    );
    assert_eq!(
        c.eval("traps.join(', ')").unwrap(),
        text("ownKeys, gopd 0, gopd length, gopd z, get 0, get z")
    );
}

/// Replacing `Object.keys` or putting accessors on the prototypes changes
/// nothing about how results are read.
#[rstest]
fn scripts_cannot_redirect_the_flattener(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let got = c
        .eval(
            "var hijacked = 0;
             Object.keys = () => { hijacked++; return ['nothing']; };
             for (const proto of [Object.prototype, Array.prototype]) {
               for (const name of ['0', '1', 'container', 'keys', 'next', 'count', 'depth', 'up']) {
                 Object.defineProperty(proto, name, {
                   configurable: true, get() { hijacked++; return 'hijacked'; }, set(v) { hijacked++; },
                 });
               }
             }
             ({ a: [1, 'two', { b: null }], c: 'text' })",
        )
        .unwrap();
    assert_eq!(
        got,
        Value::Object(vec![
            (
                "a".into(),
                Value::Array(vec![
                    Value::Number(1.0),
                    text("two"),
                    Value::Object(vec![("b".into(), Value::Null)])
                ])
            ),
            ("c".into(), text("text")),
        ])
    );
    assert_eq!(c.eval("hijacked").unwrap(), Value::Number(0.0));
}

/// Keys and short strings travel as one text: each keeps its own exact
/// characters, and a surrogate pair split over two strings stays two lone
/// surrogates (U+FFFD each), as when each string is converted alone.
#[rstest]
fn strings_keep_their_own_characters(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let long = "é".repeat(300) + "😀";
    let got = c
        .eval(&format!(
            "({{ 'caf\\u00e9': ['\\uD83D', '\\uDE00', 'ü 中 😀', '', 'x\\0y', '{long}'],
                '\\uDC00key': 'a'.repeat(300), k中: 'plain' }})"
        ))
        .unwrap();
    assert_eq!(
        got,
        Value::Object(vec![
            (
                "café".into(),
                Value::Array(vec![
                    text("\u{FFFD}"),
                    text("\u{FFFD}"),
                    text("ü 中 😀"),
                    text(""),
                    text("x\0y"),
                    text(&long),
                ])
            ),
            ("\u{FFFD}key".into(), text(&"a".repeat(300))),
            ("k中".into(), text("plain")),
        ])
    );
}

/// A getter that calls the embedder while a result is read: the callback's
/// arguments are converted in the middle of the outer conversion, and both
/// come out whole.
#[rstest]
fn a_getter_calling_the_embedder_nests(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    c.expose(
        "report",
        Arc::new(move |args| {
            sink.lock().unwrap().extend(args);
            Ok(Value::Number(1.0))
        }),
    )
    .unwrap();
    let got = c
        .eval(
            "const big = Array.from({length: 3000}, (_, i) => ({ i, s: 's' + i }));
             ({ before: 'b', get middle() { return report({ nested: big }); }, after: big })",
        )
        .unwrap();
    let expected_big = Value::Array(
        (0..3000)
            .map(|i| {
                Value::Object(vec![
                    ("i".into(), Value::Number(i as f64)),
                    ("s".into(), text(&format!("s{i}"))),
                ])
            })
            .collect(),
    );
    assert_eq!(
        got,
        Value::Object(vec![
            ("before".into(), text("b")),
            ("middle".into(), Value::Number(1.0)),
            ("after".into(), expected_big.clone()),
        ])
    );
    assert_eq!(
        *received.lock().unwrap(),
        [Value::Object(vec![("nested".into(), expected_big)])]
    );
}

/// One key longer than the result limit is refused without being copied;
/// a cycle and the depth limit deep inside give their own errors; the
/// context stays usable after each.
#[rstest]
fn limits_hold_inside_flattened_results(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = Context::new(ContextOptions {
        max_result_bytes: 1 << 20,
        max_depth: 50,
        isolation,
        ..ContextOptions::default()
    })
    .unwrap();
    let refused = |r: Result<Value, Error>| match r {
        Err(Error::Conversion(why)) => why,
        other => panic!("expected a conversion error, got {other:?}"),
    };
    let why = refused(c.eval("({ ['k'.repeat(2 ** 24)]: 1 })"));
    assert!(why.contains("max_result_bytes"), "{why}");
    let why = refused(c.eval("const o = { list: [1, 2, { up: null }] }; o.list[2].up = o; o"));
    assert!(why.contains("cycle"), "{why}");
    let why = refused(c.eval("let d = 1; for (let i = 0; i < 60; i++) d = { d }; [d]"));
    assert!(why.contains("depth"), "{why}");
    let why = refused(c.eval("Array.from({length: 200000}, (_, i) => ({ i }))"));
    assert!(why.contains("max_result_bytes"), "{why}");
    assert_eq!(
        c.eval("[{ a: 1 }]").unwrap(),
        Value::Array(vec![Value::Object(vec![("a".into(), Value::Number(1.0))])])
    );
}
