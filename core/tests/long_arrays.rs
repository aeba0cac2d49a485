//! Long arrays read their numbers in runs (a JS copier, core/shim/numbers.cc)
//! instead of one V8 call per element. What a script can observe must not
//! change: every element is read exactly once, in order, through getters
//! and the prototype chain; -0 and NaN survive; limits and stops hold.

mod common;
use common::{eval_until_timeout, generous_context};
use rstest::rstest;
use v8cage::{Context, ContextOptions, Error, Isolation, Value};

fn numbers(values: impl IntoIterator<Item = f64>) -> Value {
    Value::Array(values.into_iter().map(Value::Number).collect())
}

#[rstest]
fn long_arrays_of_numbers_convert_exactly(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    for n in [31, 32, 33, 1023, 1024, 1025, 5000] {
        let got = c
            .eval(&format!(
                "Array.from({{length: {n}}}, (_, i) => i % 7 === 0 ? -0 : i / 3)"
            ))
            .unwrap();
        let expected = numbers((0..n).map(|i| if i % 7 == 0 { -0.0 } else { i as f64 / 3.0 }));
        assert!(got.same_value(&expected), "length {n}");
    }
    let Value::Array(odd) = c
        .eval("const odd = Array(100).fill(NaN); odd[3] = Infinity; odd")
        .unwrap()
    else {
        panic!("not an array")
    };
    assert!(odd[0].same_value(&Value::Number(f64::NAN)));
    assert_eq!(odd[3], Value::Number(f64::INFINITY));
}

/// Getters, holes read through the prototype, and values of every kind in
/// between runs of numbers: each read once, in order.
#[rstest]
fn every_element_is_read_once_in_order(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let got = c
        .eval(
            "var order = [];
             const a = Array.from({length: 3000}, (_, i) => i);
             for (const at of [0, 40, 41, 1023, 1024, 2999]) {
               Object.defineProperty(a, at, { get() { order.push(at); return 'got ' + at; } });
             }
             a[100] = {inner: [1, 2]}; a[101] = 'text'; a[102] = 5n; a[103] = null;
             delete a[200];
             Array.prototype[200] = 'from the prototype';
             a",
        )
        .unwrap();
    c.eval("delete Array.prototype[200]").unwrap();
    let Value::Array(items) = got else {
        panic!("not an array")
    };
    assert_eq!(items.len(), 3000);
    for (i, item) in items.iter().enumerate() {
        let expected = match i {
            0 | 40 | 41 | 1023 | 1024 | 2999 => Value::from(format!("got {i}")),
            100 => Value::Object(vec![("inner".into(), numbers([1.0, 2.0]))]),
            101 => Value::from("text"),
            102 => Value::BigInt(5u8.into()),
            103 => Value::Null,
            200 => Value::from("from the prototype"),
            _ => Value::Number(i as f64),
        };
        assert_eq!(*item, expected, "element {i}");
    }
    assert_eq!(
        c.eval("order").unwrap(),
        numbers([0.0, 40.0, 41.0, 1023.0, 1024.0, 2999.0])
    );
}

/// A getter that shrinks the array mid-conversion: the length read first
/// holds, later elements read as JS reads them (undefined).
#[rstest]
fn an_array_shrunk_while_it_is_read(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let got = c
        .eval(
            "const a = Array.from({length: 2000}, (_, i) => i);
             Object.defineProperty(a, 500, { get() { a.length = 600; return -1; } });
             a",
        )
        .unwrap();
    let Value::Array(items) = got else {
        panic!("not an array")
    };
    assert_eq!(items.len(), 2000);
    assert_eq!(items[499], Value::Number(499.0));
    assert_eq!(items[500], Value::Number(-1.0));
    assert_eq!(items[599], Value::Number(599.0));
    assert_eq!(items[600], Value::Undefined);
    assert_eq!(items[1999], Value::Undefined);
}

/// The copier hands a non-number back through a box of its own; a script
/// that puts an indexed accessor on `Array.prototype` must not see or
/// replace that value (the box's slot is its own property, never a hole).
#[rstest]
fn an_indexed_accessor_on_the_array_prototype_cannot_intercept_the_copier(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let got = c
        .eval(
            "var intercepted = 0;
             Object.defineProperty(Array.prototype, 0, {
               configurable: true,
               get() { return 'from the prototype'; },
               set(v) { intercepted++; },
             });
             const a = Array.from({length: 100}, (_, i) => i + 1);
             a[50] = 'text';
             a",
        )
        .unwrap();
    c.eval("delete Array.prototype[0]").unwrap();
    let Value::Array(items) = got else {
        panic!("not an array")
    };
    assert_eq!(items[50], Value::String("text".into()));
    assert_eq!(items[99], Value::Number(100.0));
    assert_eq!(c.eval("intercepted").unwrap(), Value::Number(0.0));
}

#[rstest]
fn a_getter_that_throws_or_loops_inside_a_long_array(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = generous_context(isolation);
    let thrown = c.eval(
        "const t = Array.from({length: 5000}, (_, i) => i);
         Object.defineProperty(t, 4000, { get() { throw new Error('no') } });
         t",
    );
    assert!(
        matches!(&thrown, Err(Error::Conversion(m)) if m.contains("no")),
        "{thrown:?}"
    );
    let looped = eval_until_timeout(
        &mut c,
        std::time::Duration::from_millis(50),
        "const l = Array.from({length: 5000}, (_, i) => i);
         Object.defineProperty(l, 3000, { get() { for (;;) {} } });
         l",
    );
    assert_eq!(looped, Err(Error::Timeout));
}

#[rstest]
fn long_arrays_obey_the_result_size_and_depth_limits(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = Context::new(ContextOptions {
        max_result_bytes: 64 * 1024,
        max_depth: 2,
        ..common::options(isolation)
    })
    .unwrap();
    // 9 bytes a number: 7,000 fit in 64 KiB, 8,000 do not.
    assert!(c.eval("Array(7000).fill(1.5)").is_ok());
    assert!(matches!(
        c.eval("Array(8000).fill(1.5)"),
        Err(Error::Conversion(_))
    ));
    // Numbers at the deepest level allowed, and one level too deep.
    assert!(c.eval("[Array(100).fill(2)]").is_ok());
    assert!(matches!(
        c.eval("[[Array(100).fill(2)]]"),
        Err(Error::Conversion(_))
    ));
    assert_eq!(c.eval("1 + 1").unwrap(), Value::Number(2.0));
}
