//! `Value`: a JavaScript value copied out of (or into) V8. How it crosses
//! the C ABI is in `wire.rs`; its serde mapping in `value_serde.rs`.

use crate::{BigInt, Function, Handle};

/// Largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A JavaScript value, copied. See the crate docs for how each JS type maps.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    /// Sign and 64-bit words; decimal text only on request (`to_string`).
    BigInt(BigInt),
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
    /// Passed back into the context it came from, it is that function again.
    Function(Function),
    /// A value kept in the context rather than copied (see [`Handle`]).
    Handle(Handle),
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

impl From<BigInt> for Value {
    fn from(b: BigInt) -> Self {
        Value::BigInt(b)
    }
}

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

#[cfg(test)]
mod tests {
    /// The host's copy of a result is charged per `Value`
    /// (`HOST_BYTES_PER_RESULT_BYTE` assumes 32 bytes).
    #[test]
    fn a_value_takes_32_bytes() {
        assert_eq!(size_of::<super::Value>(), 32);
    }
}
