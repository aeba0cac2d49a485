//! Arbitrary [`Value`]s for the `roundtrip` target, and what JavaScript makes
//! of them (the oracle's expectation).

use arbitrary::{Arbitrary, Result, Unstructured};

use v8cage::{BigInt, Value};

/// Nesting bound of generated values: deep enough to cover nesting, far below
/// the context's `max_depth`.
const MAX_DEPTH: u32 = 6;
const MAX_ITEMS: usize = 12;

/// A [`Value`] that can be passed into JS (no `Function`).
#[derive(Debug, Clone)]
pub struct ArbitraryValue(pub Value);

impl<'a> Arbitrary<'a> for ArbitraryValue {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        value(u, 0).map(ArbitraryValue)
    }
}

/// Numbers where conversions usually go wrong.
const SPECIAL_NUMBERS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    9007199254740992.0,
    9007199254740993.0,
    -9007199254740992.0,
    1e21,
    1e-7,
    f64::MAX,
    f64::MIN_POSITIVE,
    5e-324,
    2147483647.0,
    2147483648.0,
    -2147483649.0,
    4294967295.0,
    4294967296.0,
    8.64e15,
    8.64e15 + 1.0,
];

/// Object keys where JS property order and array-index rules matter.
const SPECIAL_KEYS: &[&str] = &[
    "a",
    "b",
    "",
    "0",
    "1",
    "10",
    "01",
    "-1",
    "4294967294",
    "4294967295",
    "1.5",
    "__proto__",
    "constructor",
    "toJSON",
    "length",
    "\u{0}",
    "\u{1F600}",
];

fn number(u: &mut Unstructured) -> Result<f64> {
    Ok(if u.arbitrary()? {
        *u.choose(SPECIAL_NUMBERS)?
    } else {
        u.arbitrary()?
    })
}

fn string(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1, 4)? {
        let key: &&str = u.choose(SPECIAL_KEYS)?;
        return Ok((*key).to_owned());
    }
    let s: &str = u.arbitrary()?;
    Ok(s.chars().take(64).collect())
}

fn value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let leaf_kinds = 9;
    let kinds = if depth >= MAX_DEPTH {
        leaf_kinds
    } else {
        leaf_kinds + 2
    };
    Ok(match u.choose_index(kinds)? {
        0 => Value::Undefined,
        1 => Value::Null,
        2 => Value::Bool(u.arbitrary()?),
        3 => Value::Number(number(u)?),
        4 => {
            // Zero to three 64-bit words: zero, small, and beyond 128 bits.
            let negative = u.arbitrary()?;
            let count = u.int_in_range(0..=3)?;
            let words = (0..count)
                .map(|_| u.arbitrary::<u64>())
                .collect::<Result<Vec<u64>>>()?;
            Value::BigInt(BigInt::from_words(negative, words))
        }
        5 => Value::String(string(u)?),
        6 => Value::Date(if u.arbitrary()? {
            number(u)?
        } else {
            u.arbitrary::<i64>()? as f64
        }),
        7 => {
            let len = u.int_in_range(0..=64)?;
            Value::Bytes(u.bytes(len)?.to_vec())
        }
        8 => Value::String(String::new()),
        9 => {
            let len = u.int_in_range(0..=MAX_ITEMS)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(value(u, depth + 1)?);
            }
            Value::Array(items)
        }
        _ => {
            let len = u.int_in_range(0..=MAX_ITEMS)?;
            let mut entries = Vec::with_capacity(len);
            for _ in 0..len {
                entries.push((string(u)?, value(u, depth + 1)?));
            }
            Value::Object(entries)
        }
    })
}

/// The value JavaScript holds after receiving `value`:
/// - a `Date` keeps `TimeClip(t)`: NaN beyond ±8.64e15 ms, else the integer
///   part, with `-0` read as `+0`;
/// - an object's keys follow JS property order: array indices (canonical
///   decimal below 2^32 − 1) ascending, then the other keys in insertion
///   order; a repeated key keeps its first position and its last value.
pub fn as_js_sees_it(value: &Value) -> Value {
    match value {
        Value::Date(t) => Value::Date(time_clip(*t)),
        Value::Array(items) => Value::Array(items.iter().map(as_js_sees_it).collect()),
        Value::Object(entries) => Value::Object(js_property_order(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), as_js_sees_it(v)))
                .collect(),
        )),
        other => other.clone(),
    }
}

fn time_clip(t: f64) -> f64 {
    if !t.is_finite() || t.abs() > 8.64e15 {
        f64::NAN
    } else {
        t.trunc() + 0.0
    }
}

/// `Some(n)` for a canonical array index (`"0"`, `"17"`, not `"01"`, below 2^32 − 1).
pub fn array_index(key: &str) -> Option<u32> {
    let n: u32 = key.parse().ok()?;
    (n != u32::MAX && n.to_string() == key).then_some(n)
}

/// Orders entries as a JS object created by defining them in order would.
pub fn js_property_order(entries: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let mut unique: Vec<(String, Value)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        match unique.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => unique.push((key, value)),
        }
    }
    let (mut indices, named): (Vec<_>, Vec<_>) = unique
        .into_iter()
        .partition(|(k, _)| array_index(k).is_some());
    indices.sort_by_key(|(k, _)| array_index(k));
    indices.extend(named);
    indices
}

/// Whether `JSON.stringify` and serde_json must agree on `value`: no
/// `undefined` (dropped or `null` by position in JS), BigInt (throws), Date
/// (`toJSON` gives ISO text), bytes (a typed array stringifies as an object)
/// or functions, and no `toJSON` key (JS would call it).
pub fn json_representable(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
        Value::Array(items) => items.iter().all(json_representable),
        Value::Object(entries) => entries
            .iter()
            .all(|(k, v)| k != "toJSON" && json_representable(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_property_order_puts_indices_first_and_merges_repeats() {
        let entries = vec![
            ("b".to_string(), Value::from(1)),
            ("10".to_string(), Value::from(2)),
            ("01".to_string(), Value::from(3)),
            ("2".to_string(), Value::from(4)),
            ("b".to_string(), Value::from(5)),
            ("4294967295".to_string(), Value::from(6)),
        ];
        assert_eq!(
            js_property_order(entries),
            vec![
                ("2".to_string(), Value::from(4)),
                ("10".to_string(), Value::from(2)),
                ("b".to_string(), Value::from(5)),
                ("01".to_string(), Value::from(3)),
                ("4294967295".to_string(), Value::from(6)),
            ]
        );
    }
}
