//! Oracles comparing V8's JSON with serde_json's.
//!
//! Known, legitimate differences (not bugs, so not reported):
//! - serde_json refuses nesting deeper than 128; V8 nests until its stack ends.
//! - serde_json refuses numbers beyond f64 (`1e400`); V8 reads them as ±Infinity.
//! - serde_json refuses `\u` escapes of lone surrogates; V8 keeps them (our
//!   conversion then shows them as U+FFFD).
//! - serde_json reads `-0` as the integer 0; V8 as the double −0. Numbers are
//!   therefore compared with `==`, where `0 == -0`.
//! - A repeated key: both keep the last value; V8 keeps the first position.
//!   Objects are compared as maps, since serde_json's map is sorted anyway.
//! - V8 results pass through our conversion, which may refuse them
//!   (`Conversion`: too deep or too large) or run out of time or heap.

use serde_json::Value as Json;

use v8cage::{Error, Value};

/// serde_json error texts of the differences listed above.
const SERDE_ONLY_REFUSALS: &[&str] = &[
    "recursion limit exceeded",
    "number out of range",
    "lone leading surrogate in hex escape",
    "unexpected end of hex escape",
    "invalid unicode code point",
];

/// `json` oracle: V8's `JSON.parse(text)` (already run, `parsed`) against serde_json.
pub fn assert_parse_agrees(text: &str, parsed: &Result<Value, Error>) {
    let serde = serde_json::from_str::<Json>(text);
    match (parsed, &serde) {
        (Ok(ours), Ok(theirs)) => assert!(
            same_json(ours, theirs),
            "V8 and serde_json parse {text:?} differently:\n V8 {ours:?}\n serde_json {theirs:?}"
        ),
        (Err(Error::Exception { name, .. }), Err(_)) if name == "SyntaxError" => {}
        (Ok(_), Err(e))
            if SERDE_ONLY_REFUSALS
                .iter()
                .any(|m| e.to_string().contains(m)) => {}
        // Deep nesting: both refuse, in different ways.
        (Err(Error::Exception { name, .. }), Err(e))
            if name == "RangeError" && e.to_string().contains("recursion limit") => {}
        (Err(Error::Conversion(_) | Error::Timeout | Error::OutOfMemory), _) => {}
        _ => {
            panic!("V8 and serde_json disagree on {text:?}:\n V8 {parsed:?}\n serde_json {serde:?}")
        }
    }
}

/// `roundtrip` oracle: V8's `JSON.stringify(value)` gave `text`; serde_json's
/// serialisation of `value` must mean the same JSON.
pub fn assert_stringify_agrees(value: &Value, text: &str) {
    let theirs: Json = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("V8's JSON.stringify gave invalid JSON ({e}): {text:?}"));
    let ours = serde_json::to_string(value).expect("serialising a Value");
    let ours: Json = serde_json::from_str(&ours).expect("serde_json reads its own output");
    assert!(
        same_serde_json(&ours, &theirs),
        "JSON.stringify and serde_json disagree on {value:?}:\n V8 {text}\n serde_json {ours}"
    );
}

fn same_number(a: f64, b: &serde_json::Number) -> bool {
    b.as_f64().is_some_and(|b| a == b)
}

/// A converted V8 value against a serde_json value.
fn same_json(ours: &Value, theirs: &Json) -> bool {
    match (ours, theirs) {
        (Value::Null, Json::Null) => true,
        (Value::Bool(a), Json::Bool(b)) => a == b,
        (Value::Number(a), Json::Number(b)) => same_number(*a, b),
        (Value::String(a), Json::String(b)) => a == b,
        (Value::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(a), Json::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => false,
    }
}

fn same_serde_json(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_serde_json(p, q))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_serde_json(v, w)))
        }
        _ => a == b,
    }
}
