//! `Value`: a JavaScript value copied out of (or into) V8, and the flat byte
//! encoding values cross the C ABI in.
//!
//! Wire format (native-endian, mirrored by `Tag` in `shim/v8cage_shim.cc`):
//! one tag byte, then
//! `Number`/`Date`: f64 · `BigInt`: u8 sign, u32 word count, u64 words (least
//! significant first) · `String`/`Bytes`: u32 length + bytes · `Function`:
//! u32 length + name bytes + u32 handle id (0: none) ·
//! `Array`: u32 count + values · `Object`: u32 count + (u32 key length, key,
//! value) pairs. `Undefined`/`Null`/`false`/`true` carry nothing.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use num_bigint::{BigInt, BigUint, Sign};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A JavaScript value, copied. See the crate docs for how each JS type maps.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    /// Decimal digits with an optional leading `-`.
    BigInt(String),
    /// Lone UTF-16 surrogates from JS become U+FFFD.
    String(String),
    Array(Vec<Value>),
    /// Own enumerable string-keyed properties, in JS property order.
    Object(Vec<(String, Value)>),
    /// Milliseconds since the Unix epoch; `NaN` for an invalid date.
    Date(f64),
    /// Contents of an `ArrayBuffer`, `SharedArrayBuffer` or typed-array view.
    /// Passed into JS it becomes a `Uint8Array`.
    Bytes(Vec<u8>),
    /// A function from a result: its (possibly inferred, possibly empty)
    /// name and a handle for [`Context::call_function`](crate::Context::call_function).
    /// Results only: a function cannot be passed into JS.
    Function(Function),
}

/// A JavaScript function a result handed out. The context keeps the
/// function alive while any clone of this value exists, so
/// [`Context::call_function`](crate::Context::call_function) can call it;
/// dropping the last clone lets V8 collect it. Equality compares names.
#[derive(Clone)]
pub struct Function {
    name: String,
    handle: Option<Arc<FunctionHandle>>,
}

impl Function {
    /// A function value with a name and no handle (it cannot be called);
    /// for building expected values.
    pub fn named(name: impl Into<String>) -> Function {
        Function {
            name: name.into(),
            handle: None,
        }
    }

    /// The function's name, as `Function.prototype.name` or V8's inferred name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether [`Context::call_function`](crate::Context::call_function) can
    /// call it: false for [`Function::named`] values, and for functions
    /// beyond the 65,536 one context keeps at a time.
    pub fn is_callable(&self) -> bool {
        self.handle.is_some()
    }

    pub(crate) fn handle(&self) -> Option<&FunctionHandle> {
        self.handle.as_deref()
    }
}

impl PartialEq for Function {
    fn eq(&self, other: &Function) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Function").field(&self.name).finish()
    }
}

impl From<&str> for Function {
    fn from(name: &str) -> Function {
        Function::named(name)
    }
}

impl From<String> for Function {
    fn from(name: String) -> Function {
        Function::named(name)
    }
}

/// Handle ids whose last `Function` was dropped, to be released by their
/// context before its next call into V8 (a drop may happen on any thread,
/// while the context is busy or gone).
#[derive(Default)]
pub(crate) struct ReleasedFunctions {
    ids: Mutex<Vec<u32>>,
    count: AtomicUsize,
}

impl ReleasedFunctions {
    fn push(&self, id: u32) {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        self.count.fetch_add(1, Ordering::Release);
    }

    /// The ids released since the last call; cheap when there are none.
    pub(crate) fn take(&self) -> Vec<u32> {
        if self.count.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        self.count.fetch_sub(ids.len(), Ordering::Release);
        ids
    }
}

/// Where a result's function handles belong: the context's identity (a
/// handle only works on the context that made it) and its release list.
#[derive(Clone)]
pub(crate) struct FunctionOwner {
    pub(crate) context_id: u64,
    pub(crate) released: Arc<ReleasedFunctions>,
}

pub(crate) struct FunctionHandle {
    pub(crate) context_id: u64,
    pub(crate) id: u32,
    released: Arc<ReleasedFunctions>,
}

impl Drop for FunctionHandle {
    fn drop(&mut self) {
        self.released.push(self.id);
    }
}

impl Value {
    /// JavaScript's `SameValue`: like `==` but `NaN` equals `NaN` and `0`
    /// differs from `-0`. Use it to compare values that went through JS.
    pub fn same_value(&self, other: &Value) -> bool {
        fn same_f64(a: f64, b: f64) -> bool {
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
        }
        match (self, other) {
            (Value::Number(a), Value::Number(b)) | (Value::Date(a), Value::Date(b)) => {
                same_f64(*a, *b)
            }
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_value(y))
            }
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| ka == kb && va.same_value(vb))
            }
            _ => self == other,
        }
    }
}

macro_rules! from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            /// Numbers become JS numbers (f64); integers beyond ±2^53 round.
            fn from(n: $t) -> Self {
                Value::Number(n as f64)
            }
        }
    )*};
}
from_number!(f64, f32, i8, i16, i32, i64, u8, u16, u32, u64, isize, usize);

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items)
    }
}
impl From<Vec<(String, Value)>> for Value {
    fn from(entries: Vec<(String, Value)>) -> Self {
        Value::Object(entries)
    }
}
impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Self {
        Value::Bytes(bytes)
    }
}
impl From<&[u8]> for Value {
    fn from(bytes: &[u8]) -> Self {
        Value::Bytes(bytes.to_vec())
    }
}
impl From<()> for Value {
    fn from(_: ()) -> Self {
        Value::Undefined
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is JS `null`.
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

// ---- serde: values map onto the JSON data model --------------------------
//
// JSON types round-trip exactly (`serde_json::from_str::<Value>` then
// `to_string`). Other variants serialize as their nearest JSON: `Undefined`
// and `Function` as null, `BigInt` as a decimal string, `Date` as its epoch
// milliseconds, `Bytes` as an array of numbers; non-finite numbers as null
// (like `JSON.stringify`).

/// Largest integer a JS number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Undefined | Value::Null | Value::Function(_) => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) | Value::Date(n) => {
                // Integral numbers print as integers ("1", not "1.0"), as JSON.stringify does.
                if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER {
                    serializer.serialize_i64(*n as i64)
                } else {
                    serializer.serialize_f64(*n)
                }
            }
            Value::BigInt(s) | Value::String(s) => serializer.serialize_str(s),
            Value::Bytes(b) => serializer.collect_seq(b),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-like value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_bytes<E>(self, b: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(b.to_vec()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            entries.push((k, v));
        }
        Ok(Value::Object(entries))
    }
}

// ---- wire encoding -----------------------------------------------------------

pub(crate) mod tag {
    pub const UNDEFINED: u8 = 0;
    pub const NULL: u8 = 1;
    pub const FALSE: u8 = 2;
    pub const TRUE: u8 = 3;
    pub const NUMBER: u8 = 4;
    pub const BIGINT: u8 = 5;
    pub const STRING: u8 = 6;
    pub const ARRAY: u8 = 7;
    pub const OBJECT: u8 = 8;
    pub const DATE: u8 = 9;
    pub const BYTES: u8 = 10;
    pub const FUNCTION: u8 = 11;
}

/// Decimal digits of the largest BigInt converted either way: 2^20 bits
/// (`kMaxBigIntWords` in the shim) is 315,653 digits.
const MAX_BIGINT_DIGITS: usize = 315_653;

fn put_len(out: &mut Vec<u8>, len: usize, what: &str) -> Result<(), Error> {
    let len =
        u32::try_from(len).map_err(|_| Error::InvalidInput(format!("{what} longer than 4 GiB")))?;
    out.extend_from_slice(&len.to_ne_bytes());
    Ok(())
}

/// Encodes call arguments as one wire array. Iterative, like `Reader`, so a
/// deep argument is refused without deep recursion.
pub(crate) fn encode_args(args: &[Value], max_depth: u32) -> Result<Vec<u8>, Error> {
    enum Open<'a> {
        Items(std::slice::Iter<'a, Value>),
        Entries(std::slice::Iter<'a, (String, Value)>),
    }
    let mut out = Vec::with_capacity(64);
    out.push(tag::ARRAY);
    put_len(&mut out, args.len(), "argument list")?;
    let mut stack = vec![Open::Items(args.iter())];
    while let Some(top) = stack.last_mut() {
        let next = match top {
            Open::Items(items) => items.next(),
            Open::Entries(entries) => entries
                .next()
                .map(|(k, v)| {
                    put_len(&mut out, k.len(), "key")
                        .map(|()| out.extend_from_slice(k.as_bytes()))
                        .map(|()| v)
                })
                .transpose()?,
        };
        let Some(v) = next else {
            stack.pop();
            continue;
        };
        match v {
            Value::Array(items) => {
                out.push(tag::ARRAY);
                put_len(&mut out, items.len(), "array")?;
                stack.push(Open::Items(items.iter()));
            }
            Value::Object(entries) => {
                out.push(tag::OBJECT);
                put_len(&mut out, entries.len(), "object")?;
                stack.push(Open::Entries(entries.iter()));
            }
            scalar => encode_scalar(scalar, &mut out)?,
        }
        if stack.len() > max_depth as usize {
            return Err(Error::InvalidInput(format!(
                "argument nests deeper than {max_depth} levels"
            )));
        }
    }
    Ok(out)
}

fn encode_scalar(v: &Value, out: &mut Vec<u8>) -> Result<(), Error> {
    match v {
        Value::Undefined => out.push(tag::UNDEFINED),
        Value::Null => out.push(tag::NULL),
        Value::Bool(false) => out.push(tag::FALSE),
        Value::Bool(true) => out.push(tag::TRUE),
        Value::Number(n) => {
            out.push(tag::NUMBER);
            out.extend_from_slice(&n.to_ne_bytes());
        }
        Value::Date(n) => {
            out.push(tag::DATE);
            out.extend_from_slice(&n.to_ne_bytes());
        }
        Value::BigInt(s) => {
            // Parsing decimal text grows faster than linearly; the shim's
            // bound (2^20 bits) applies to arguments too.
            if s.trim_start_matches('-').len() > MAX_BIGINT_DIGITS {
                return Err(Error::InvalidInput(format!(
                    "BigInt of {} digits is larger than 2^20 bits",
                    s.len()
                )));
            }
            let big = BigInt::from_str(s).map_err(|_| {
                Error::InvalidInput(format!("BigInt {s:?} is not a decimal integer"))
            })?;
            let (sign, words) = big.to_u64_digits();
            out.push(tag::BIGINT);
            out.push(u8::from(sign == Sign::Minus));
            put_len(out, words.len(), "BigInt")?;
            for w in words {
                out.extend_from_slice(&w.to_ne_bytes());
            }
        }
        Value::String(s) => {
            out.push(tag::STRING);
            put_len(out, s.len(), "string")?;
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(tag::BYTES);
            put_len(out, b.len(), "byte array")?;
            out.extend_from_slice(b);
        }
        Value::Function(function) => {
            return Err(Error::InvalidInput(format!(
                "a Function value ({:?}) cannot be passed into JavaScript",
                function.name()
            )))
        }
        Value::Array(_) | Value::Object(_) => unreachable!("containers are handled by encode_args"),
    }
    Ok(())
}

/// Reads the shim's output. Iterative, so a deeply nested result cannot
/// overflow a small thread stack.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    owner: Option<&'a FunctionOwner>,
}

fn corrupt() -> Error {
    Error::Conversion("malformed value encoding from the shim".into())
}

impl<'a> Reader<'a> {
    #[cfg(test)]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, owner: None }
    }

    /// A reader whose functions get handles owned by a context.
    pub(crate) fn with_owner(buf: &'a [u8], owner: &'a FunctionOwner) -> Self {
        Reader {
            buf,
            owner: Some(owner),
        }
    }

    fn function(&mut self) -> Result<Function, Error> {
        let name = self.string()?;
        let id = self.u32()?;
        let handle = match (id, self.owner) {
            (0, _) | (_, None) => None,
            (id, Some(owner)) => Some(Arc::new(FunctionHandle {
                context_id: owner.context_id,
                id,
                released: Arc::clone(&owner.released),
            })),
        };
        Ok(Function { name, handle })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.buf.len() < n {
            return Err(corrupt());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_ne_bytes(
            self.take(4)?.try_into().map_err(|_| corrupt())?,
        ))
    }
    fn f64(&mut self) -> Result<f64, Error> {
        Ok(f64::from_ne_bytes(
            self.take(8)?.try_into().map_err(|_| corrupt())?,
        ))
    }
    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// A length-prefixed UTF-8 string (invalid sequences replaced).
    pub(crate) fn string(&mut self) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
    /// Capacity for `count` items, never more than the bytes left could hold.
    fn capacity(&self, count: u32) -> usize {
        (count as usize).min(self.buf.len())
    }

    pub(crate) fn value(&mut self) -> Result<Value, Error> {
        enum Open {
            Array(Vec<Value>, u32),
            Object(Vec<(String, Value)>, u32, String),
        }
        let mut stack: Vec<Open> = Vec::new();
        loop {
            let mut done = match self.byte()? {
                tag::UNDEFINED => Value::Undefined,
                tag::NULL => Value::Null,
                tag::FALSE => Value::Bool(false),
                tag::TRUE => Value::Bool(true),
                tag::NUMBER => Value::Number(self.f64()?),
                tag::DATE => Value::Date(self.f64()?),
                tag::STRING => Value::String(self.string()?),
                tag::FUNCTION => Value::Function(self.function()?),
                tag::BYTES => Value::Bytes(self.bytes()?.to_vec()),
                tag::BIGINT => {
                    let negative = self.byte()? != 0;
                    let words = self.u32()? as usize;
                    let raw = self.take(words.checked_mul(8).ok_or_else(corrupt)?)?;
                    let magnitude = BigUint::from_bytes_le(
                        &raw.chunks_exact(8)
                            .flat_map(|w| {
                                u64::from_ne_bytes(w.try_into().expect("8-byte chunk"))
                                    .to_le_bytes()
                            })
                            .collect::<Vec<u8>>(),
                    );
                    let sign = if negative { Sign::Minus } else { Sign::Plus };
                    Value::BigInt(BigInt::from_biguint(sign, magnitude).to_string())
                }
                tag::ARRAY => {
                    let n = self.u32()?;
                    if n > 0 {
                        stack.push(Open::Array(Vec::with_capacity(self.capacity(n)), n));
                        continue;
                    }
                    Value::Array(Vec::new())
                }
                tag::OBJECT => {
                    let n = self.u32()?;
                    if n > 0 {
                        let key = self.string()?;
                        stack.push(Open::Object(Vec::with_capacity(self.capacity(n)), n, key));
                        continue;
                    }
                    Value::Object(Vec::new())
                }
                _ => return Err(corrupt()),
            };
            // Attach the finished value to its parent; close parents that are full.
            loop {
                match stack.last_mut() {
                    None => return Ok(done),
                    Some(Open::Array(items, remaining)) => {
                        items.push(done);
                        *remaining -= 1;
                        if *remaining > 0 {
                            break;
                        }
                    }
                    Some(Open::Object(entries, remaining, key)) => {
                        entries.push((std::mem::take(key), done));
                        *remaining -= 1;
                        if *remaining > 0 {
                            *key = self.string()?;
                            break;
                        }
                    }
                }
                done = match stack.pop() {
                    Some(Open::Array(items, _)) => Value::Array(items),
                    Some(Open::Object(entries, _, _)) => Value::Object(entries),
                    None => unreachable!("stack.last_mut() was Some"),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_encoding_reads_back() {
        let v = Value::Array(vec![
            Value::Undefined,
            Value::Object(vec![
                ("a".into(), Value::Array(vec![])),
                ("b".into(), Value::Number(-0.0)),
            ]),
            Value::BigInt("-123456789012345678901234567890".into()),
            Value::Bytes(vec![1, 2, 3]),
            Value::String("x\0y".into()),
            Value::Date(5.0),
        ]);
        let args = encode_args(std::slice::from_ref(&v), 1000).unwrap();
        let mut reader = Reader::new(&args);
        let Value::Array(mut outer) = reader.value().unwrap() else {
            panic!("not an array")
        };
        assert!(outer.pop().unwrap().same_value(&v));
    }

    #[test]
    fn bigint_must_be_decimal() {
        assert!(matches!(
            encode_args(&[Value::BigInt("12abc".into())], 10),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn truncated_encoding_is_an_error_not_a_panic() {
        let args = encode_args(&[Value::from("hello")], 10).unwrap();
        for cut in 0..args.len() {
            assert!(Reader::new(&args[..cut]).value().is_err());
        }
    }
}
