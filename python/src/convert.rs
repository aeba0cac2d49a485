//! Values between JavaScript (the core's `Value`) and Python, both ways.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyIterator, PyList, PyMapping,
    PyMemoryView, PyRange, PySequence, PyString, PyTuple, PyType,
};
use std::sync::atomic::Ordering::Relaxed;

use std::borrow::Cow;

use rustc_hash::FxHashMap;
use v8cage::{BigInt, Error, Event, Value, MAX_BIGINT_BITS, MAX_SAFE_INTEGER};

use crate::context::{JsHandle, PyContext};
use crate::errors::{conversion_error, to_py_err};

/// `undefined`: a falsy singleton, distinct from `None` (`null`).
#[pyclass(frozen, module = "v8cage._v8cage", name = "JSUndefinedType")]
pub(crate) struct JsUndefined;

#[pymethods]
impl JsUndefined {
    fn __bool__(&self) -> bool {
        false
    }
    fn __repr__(&self) -> &'static str {
        "JSUndefined"
    }
}

pub(crate) fn undefined(py: Python<'_>) -> PyResult<&Bound<'_, JsUndefined>> {
    static UNDEFINED: PyOnceLock<Py<JsUndefined>> = PyOnceLock::new();
    UNDEFINED
        .get_or_try_init(py, || Py::new(py, JsUndefined))
        .map(|u| u.bind(py))
}

fn datetime_epoch(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    EPOCH
        .get_or_try_init(py, || {
            let datetime = py.import("datetime")?;
            let utc = datetime.getattr("timezone")?.getattr("utc")?;
            let epoch = datetime
                .getattr("datetime")?
                .call((1970, 1, 1, 0, 0, 0, 0, utc), None)?;
            Ok::<_, PyErr>(epoch.unbind())
        })
        .map(|e| e.bind(py))
}

fn timedelta_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static TIMEDELTA: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    TIMEDELTA.import(py, "datetime", "timedelta")
}

fn datetime_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    DATETIME.import(py, "datetime", "datetime")
}

/// A JS Date (ms since the epoch) as an aware UTC `datetime`.
fn date_to_py(py: Python<'_>, ms: f64) -> PyResult<Bound<'_, PyAny>> {
    if !ms.is_finite() {
        return Err(conversion_error(
            py,
            "an invalid Date has no datetime".into(),
        ));
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("milliseconds", ms)?;
    let delta = timedelta_type(py)?.call((), Some(&kwargs))?;
    datetime_epoch(py)?.add(delta).map_err(|_| {
        conversion_error(
            py,
            format!("the Date {ms} ms is outside the years datetime holds (1-9999)"),
        )
    })
}

/// `owner`: the context the value came from (handles stay usable through it).
pub(crate) fn to_py<'py>(
    owner: &Bound<'py, PyContext>,
    value: Value,
) -> PyResult<Bound<'py, PyAny>> {
    let mut events = ValueEvents::new(value);
    events_to_py(owner, || Ok(events.next()))
}

/// Builds the Python object for a value read as [`Event`]s (from the
/// shim's encoding, with no `Value` tree in between, or from a `Value`).
/// Iterative (an explicit stack of open lists and dicts), so a result nested
/// `max_depth` levels deep needs no native stack: threads with 256 KiB
/// stacks segfaulted in a recursive version. Object keys repeat (records of
/// one shape): the same `str` object serves every occurrence.
pub(crate) fn events_to_py<'a, 'py>(
    owner: &Bound<'py, PyContext>,
    mut next: impl FnMut() -> Result<Event<'a>, Error>,
) -> PyResult<Bound<'py, PyAny>> {
    enum Open<'py> {
        List(Bound<'py, PyList>),
        Dict(Bound<'py, PyDict>, Option<Bound<'py, PyString>>),
    }
    /// Distinct keys remembered per conversion, bounding the cache.
    const MAX_INTERNED_KEYS: usize = 4096;
    let py = owner.py();
    let mut stack: Vec<Open<'py>> = Vec::new();
    let mut keys: FxHashMap<Cow<'a, str>, Bound<'py, PyString>> = FxHashMap::default();
    // Python's cyclic collector runs every few hundred new containers and
    // walks young ones each time; a large result is built with it paused
    // (as if by gc.disable()), from its first such pause point on.
    let mut collector = CollectorPause::new(py);
    let mut containers = 0u32;
    loop {
        let event = next().map_err(|err| to_py_err(py, err))?;
        let done = match event {
            Event::ArrayStart(_) => {
                containers += 1;
                if containers == PAUSE_COLLECTOR_AFTER {
                    collector.pause()?;
                }
                stack.push(Open::List(PyList::empty(py)));
                continue;
            }
            Event::ObjectStart(_) => {
                containers += 1;
                if containers == PAUSE_COLLECTOR_AFTER {
                    collector.pause()?;
                }
                stack.push(Open::Dict(PyDict::new(py), None));
                continue;
            }
            Event::Key(key) => {
                let interned = match keys.get(&key) {
                    Some(interned) => interned.clone(),
                    None => {
                        let made = PyString::new(py, &key);
                        if keys.len() < MAX_INTERNED_KEYS {
                            keys.insert(key, made.clone());
                        }
                        made
                    }
                };
                if let Some(Open::Dict(_, slot)) = stack.last_mut() {
                    *slot = Some(interned);
                }
                continue;
            }
            Event::End => match stack.pop() {
                Some(Open::List(list)) => list.into_any(),
                Some(Open::Dict(dict, _)) => dict.into_any(),
                None => return Err(conversion_error(py, "unbalanced value encoding".into())),
            },
            Event::Undefined => undefined(py)?.clone().into_any(),
            Event::Null => py.None().into_bound(py),
            Event::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
            Event::Number(n) => number_to_py(py, n)?,
            Event::BigInt(big) => bigint_to_py(py, &big)?,
            Event::String(text) => PyString::new(py, &text).into_any(),
            Event::Date(ms) => date_to_py(py, ms)?,
            Event::Bytes(bytes) if owner.get().mini_racer_messages.load(Relaxed) => {
                PyMemoryView::from(&PyByteArray::new(py, &bytes))?.into_any()
            }
            Event::Bytes(bytes) => PyBytes::new(py, &bytes).into_any(),
            Event::Function(function) => handle_to_py(owner, Value::Function(function))?,
            Event::Handle(handle) => handle_to_py(owner, Value::Handle(handle))?,
        };
        match stack.last_mut() {
            None => return Ok(done),
            Some(Open::List(list)) => list.append(done)?,
            Some(Open::Dict(dict, key)) => match key.take() {
                Some(key) => dict.set_item(key, done)?,
                None => return Err(conversion_error(py, "object value without a key".into())),
            },
        }
    }
}

/// Containers a result may make before the cyclic collector is paused:
/// below it, pausing costs more than collecting.
const PAUSE_COLLECTOR_AFTER: u32 = 256;

/// Pauses Python's cyclic garbage collector (`gc.disable()`) and resumes
/// it when dropped, if it was enabled before.
struct CollectorPause<'py> {
    py: Python<'py>,
    paused: bool,
}

impl<'py> CollectorPause<'py> {
    fn new(py: Python<'py>) -> Self {
        CollectorPause { py, paused: false }
    }

    fn pause(&mut self) -> PyResult<()> {
        let gc = self.py.import("gc")?;
        if gc.call_method0("isenabled")?.is_truthy()? {
            gc.call_method0("disable")?;
            self.paused = true;
        }
        Ok(())
    }
}

impl Drop for CollectorPause<'_> {
    fn drop(&mut self) {
        if self.paused {
            if let Ok(gc) = self.py.import("gc") {
                let _ = gc.call_method0("enable");
            }
        }
    }
}

/// A JS number: an int when integral within ±2^53 (and not -0), else a float.
fn number_to_py(py: Python<'_>, n: f64) -> PyResult<Bound<'_, PyAny>> {
    let integral = n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER;
    Ok(if integral && !(n == 0.0 && n.is_sign_negative()) {
        (n as i64).into_pyobject(py)?.into_any()
    } else {
        PyFloat::new(py, n).into_any()
    })
}

/// A function or handle as its proxy (`v8cage._objects.wrap`).
fn handle_to_py<'py>(owner: &Bound<'py, PyContext>, value: Value) -> PyResult<Bound<'py, PyAny>> {
    let py = owner.py();
    let handle = Bound::new(
        py,
        JsHandle {
            value,
            context: owner.clone().unbind(),
        },
    )?;
    wrap_handle(py)?.call1((handle,))
}

/// The events of a `Value` tree, consuming it.
struct ValueEvents {
    next: Option<Value>,
    open: Vec<OpenValue>,
}

enum OpenValue {
    Items(std::vec::IntoIter<Value>),
    Entries(std::vec::IntoIter<(String, Value)>, Option<Value>),
}

impl ValueEvents {
    fn new(value: Value) -> Self {
        ValueEvents {
            next: Some(value),
            open: Vec::new(),
        }
    }

    fn next(&mut self) -> Event<'static> {
        let value = match self.next.take() {
            Some(value) => value,
            None => match self.open.last_mut() {
                None => return Event::End,
                Some(OpenValue::Items(items)) => match items.next() {
                    Some(item) => item,
                    None => {
                        self.open.pop();
                        return Event::End;
                    }
                },
                Some(OpenValue::Entries(entries, pending)) => match pending.take() {
                    Some(item) => item,
                    None => match entries.next() {
                        Some((key, item)) => {
                            *pending = Some(item);
                            return Event::Key(Cow::Owned(key));
                        }
                        None => {
                            self.open.pop();
                            return Event::End;
                        }
                    },
                },
            },
        };
        match value {
            Value::Undefined => Event::Undefined,
            Value::Null => Event::Null,
            Value::Bool(b) => Event::Bool(b),
            Value::Number(n) => Event::Number(n),
            Value::BigInt(big) => Event::BigInt(big),
            Value::String(s) => Event::String(Cow::Owned(s)),
            Value::Date(ms) => Event::Date(ms),
            Value::Bytes(bytes) => Event::Bytes(Cow::Owned(bytes)),
            Value::Function(f) => Event::Function(f),
            Value::Handle(h) => Event::Handle(h),
            Value::Array(items) => {
                let n = items.len();
                self.open.push(OpenValue::Items(items.into_iter()));
                Event::ArrayStart(n)
            }
            Value::Object(entries) => {
                let n = entries.len();
                self.open
                    .push(OpenValue::Entries(entries.into_iter(), None));
                Event::ObjectStart(n)
            }
        }
    }
}

// ---- Python -> JS -------------------------------------------------------------

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn datetime_to_ms(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    let aware = if obj.getattr("tzinfo")?.is_none() {
        // A naive datetime is taken as UTC, as JS's Date.UTC would.
        let kwargs = PyDict::new(py);
        kwargs.set_item("tzinfo", datetime_epoch(py)?.getattr("tzinfo")?)?;
        obj.call_method("replace", (), Some(&kwargs))?
    } else {
        obj.clone()
    };
    let one_ms = {
        let kwargs = PyDict::new(py);
        kwargs.set_item("milliseconds", 1)?;
        timedelta_type(py)?.call((), Some(&kwargs))?
    };
    aware
        .sub(datetime_epoch(py)?)?
        .div(one_ms)?
        .extract::<f64>()
}

/// Bounds on call arguments, the same as the core's: nesting and encoded
/// size (`max_result_bytes`, both ways). The size is charged as the wire
/// format will take it, before anything large is copied.
pub(crate) struct ArgumentLimits {
    pub(crate) max_depth: u32,
    pub(crate) max_bytes: usize,
}

struct Budget {
    left: usize,
    max_bytes: usize,
}

impl Budget {
    fn spend(&mut self, py: Python<'_>, bytes: usize) -> PyResult<()> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(to_py_err(
                py,
                Error::InvalidInput(format!(
                    "arguments larger than max_result_bytes ({} bytes)",
                    self.max_bytes
                )),
            )),
        }
    }
}

/// Wire bytes of a tag, a length prefix and an f64.
const TAG: usize = 1;
const LEN: usize = 4;
const F64: usize = 8;

/// Call arguments as values, within `limits`.
pub(crate) fn args_to_values(
    args: &Bound<'_, PyTuple>,
    limits: &ArgumentLimits,
) -> PyResult<Vec<Value>> {
    let mut budget = Budget {
        left: limits.max_bytes,
        max_bytes: limits.max_bytes,
    };
    budget.spend(args.py(), TAG + LEN)?;
    args.iter()
        .map(|arg| from_py(&arg, limits.max_depth, &mut budget))
        .collect()
}

/// A list, tuple or other sequence being converted, or a mapping's items
/// (with the key of the value being converted).
enum Open<'py> {
    Array(Vec<Value>, Bound<'py, PyIterator>),
    Object(Vec<(String, Value)>, Bound<'py, PyIterator>, String),
}

/// Iterative, like `to_py`: an argument nested `max_depth` levels deep (or a
/// cycle, which the depth bound ends) needs no native stack.
fn from_py(obj: &Bound<'_, PyAny>, max_depth: u32, budget: &mut Budget) -> PyResult<Value> {
    let py = obj.py();
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut next = obj.clone();
    loop {
        // Arguments themselves are at depth 1.
        if stack.len() as u32 + 1 > max_depth {
            return Err(conversion_error(
                py,
                format!("argument nested deeper than {max_depth} levels (or a cycle)"),
            ));
        }
        let mut done = match leaf_from_py(&next, budget)? {
            Some(value) => value,
            None => match open_container(&next, budget)? {
                (Some(first), open) => {
                    stack.push(open);
                    next = first;
                    continue;
                }
                (None, Open::Array(items, _)) => Value::Array(items),
                (None, Open::Object(entries, _, _)) => Value::Object(entries),
            },
        };
        // Put `done` into its parent; close the parents it completes.
        loop {
            match stack.last_mut() {
                None => return Ok(done),
                Some(Open::Array(items, iter)) => {
                    items.push(done);
                    if let Some(item) = iter.next() {
                        next = item?;
                        break;
                    }
                }
                Some(Open::Object(entries, iter, key)) => {
                    entries.push((std::mem::take(key), done));
                    if let Some(item) = iter.next() {
                        let (k, item) = entry(&item?, budget)?;
                        *key = k;
                        next = item;
                        break;
                    }
                }
            }
            done = match stack.pop() {
                Some(Open::Array(items, _)) => Value::Array(items),
                Some(Open::Object(entries, _, _)) => Value::Object(entries),
                None => unreachable!("the stack had a last element"),
            };
        }
    }
}

/// Opens a mapping or sequence: its first child (if any) and its frame.
/// Sizes known up front are charged at once: a `range(5 * 10**7)` is
/// refused from its length, never iterated.
fn open_container<'py>(
    obj: &Bound<'py, PyAny>,
    budget: &mut Budget,
) -> PyResult<(Option<Bound<'py, PyAny>>, Open<'py>)> {
    let py = obj.py();
    budget.spend(py, TAG + LEN)?;
    if let Ok(mapping) = obj.cast::<PyMapping>() {
        let items = mapping.items()?;
        // Each entry costs at least a key length and a value tag.
        budget.spend(py, items.len().saturating_mul(LEN + TAG))?;
        let mut iter = items.try_iter()?;
        return Ok(match iter.next() {
            Some(item) => {
                let (key, value) = entry(&item?, budget)?;
                (Some(value), Open::Object(Vec::new(), iter, key))
            }
            None => (None, Open::Object(Vec::new(), iter, String::new())),
        });
    }
    // Every element costs at least its tag; a range's are numbers.
    let per_item = if obj.is_instance_of::<PyRange>() {
        TAG + F64
    } else {
        TAG
    };
    if let Ok(len) = obj.len() {
        budget.spend(py, len.saturating_mul(per_item))?;
    }
    let mut iter = obj.try_iter()?;
    let first = iter.next().transpose()?;
    Ok((first, Open::Array(Vec::new(), iter)))
}

/// One `(key, value)` item of a mapping, the key a `str` and paid for.
fn entry<'py>(
    item: &Bound<'py, PyAny>,
    budget: &mut Budget,
) -> PyResult<(String, Bound<'py, PyAny>)> {
    let (key, value): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item.extract()?;
    let Ok(key) = key.cast::<PyString>() else {
        return Err(PyTypeError::new_err(format!(
            "object keys must be str, not {}",
            type_name(&key)
        )));
    };
    let key = key.to_cow()?;
    budget.spend(item.py(), key.len())?;
    Ok((key.into_owned(), value))
}

fn is_container(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyMapping>().is_ok()
        || obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.cast::<PySequence>().is_ok()
}

/// Bytes of `obj` as a value, paid for before they are copied.
fn bytes_value(obj: &Bound<'_, PyBytes>, budget: &mut Budget) -> PyResult<Value> {
    let bytes = obj.as_bytes();
    budget.spend(obj.py(), LEN.saturating_add(bytes.len()))?;
    Ok(Value::Bytes(bytes.to_vec()))
}

/// `v8cage._objects.wrap`: a handle as its proxy (JSObject, JSPromise...).
fn wrap_handle(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static WRAP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    WRAP.import(py, "v8cage._objects", "wrap")
}

/// The handle behind a proxy (its `_handle`), if `obj` is one.
fn handle_of<'py>(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, JsHandle>> {
    if let Ok(handle) = obj.cast::<JsHandle>() {
        return Some(handle.clone());
    }
    if obj.is_exact_instance_of::<PyDict>()
        || obj.is_exact_instance_of::<PyList>()
        || obj.is_exact_instance_of::<PyTuple>()
    {
        return None;
    }
    obj.getattr(pyo3::intern!(obj.py(), "_handle"))
        .ok()?
        .cast_into::<JsHandle>()
        .ok()
}

/// A value that is not a mapping or sequence, paid for; `None` for those.
fn leaf_from_py(obj: &Bound<'_, PyAny>, budget: &mut Budget) -> PyResult<Option<Value>> {
    let py = obj.py();
    let value = if obj.is_none() {
        Value::Null
    } else if obj.is_instance_of::<JsUndefined>() {
        Value::Undefined
    } else if let Ok(b) = obj.cast::<PyBool>() {
        Value::Bool(b.is_true())
    } else if obj.is_instance_of::<PyInt>() {
        match obj.extract::<i64>() {
            Ok(i) if (i as f64).abs() <= MAX_SAFE_INTEGER => Value::Number(i as f64),
            _ => Value::BigInt(bigint_from_py(obj)?),
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        Value::Number(f.value())
    } else if let Ok(s) = obj.cast::<PyString>() {
        // UTF-8 takes at least a byte per character: refuse before copying.
        let chars = s.len()?;
        budget.spend(py, LEN.saturating_add(chars))?;
        let text = s.to_cow()?;
        budget.spend(py, text.len() - chars)?;
        Value::String(text.into_owned())
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        bytes_value(b, budget)?
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        budget.spend(py, LEN.saturating_add(b.len()))?;
        Value::Bytes(b.to_vec())
    } else if obj.is_instance_of::<PyMemoryView>() {
        // Its bytes, not a list of ints (memoryview is also a Sequence).
        let nbytes: usize = obj.getattr("nbytes")?.extract()?;
        budget.spend(py, LEN.saturating_add(nbytes))?;
        let bytes = py.get_type::<PyBytes>().call1((obj,))?;
        Value::Bytes(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
    } else if obj.is_instance(datetime_type(py)?)? {
        Value::Date(datetime_to_ms(py, obj)?)
    } else if let Some(handle) = handle_of(obj) {
        handle.get().value.clone()
    } else if is_container(obj) {
        return Ok(None);
    } else if let Some(b) = obj
        .call_method0("__bytes__")
        .ok()
        .and_then(|b| b.cast_into::<PyBytes>().ok())
    {
        bytes_value(&b, budget)?
    } else {
        return Err(PyTypeError::new_err(format!(
            "cannot pass a {} to JavaScript",
            type_name(obj)
        )));
    };
    let payload = match &value {
        Value::Number(_) | Value::Date(_) => F64,
        Value::BigInt(big) => 1 + LEN + 8 * big.words().len(),
        _ => 0,
    };
    budget.spend(py, TAG + payload)?;
    Ok(Some(value))
}

/// A BigInt as a Python `int`, through its bytes: linear, and not subject to
/// Python's limit on decimal digits (`sys.set_int_max_str_digits`).
fn bigint_to_py<'py>(py: Python<'py>, big: &BigInt) -> PyResult<Bound<'py, PyAny>> {
    let magnitude = PyBytes::new(py, &big.magnitude_le_bytes());
    let n = py
        .get_type::<PyInt>()
        .call_method1("from_bytes", (magnitude, "little"))?;
    if big.is_negative() {
        n.neg()
    } else {
        Ok(n)
    }
}

/// A Python `int` as a BigInt, through its bytes. Ints beyond 2^20 bits are
/// refused from their bit length, before any bytes are made.
fn bigint_from_py(int: &Bound<'_, PyAny>) -> PyResult<BigInt> {
    let negative = int.lt(0)?;
    let magnitude = if negative { int.neg()? } else { int.clone() };
    let bits: u64 = magnitude.call_method0("bit_length")?.extract()?;
    if bits > MAX_BIGINT_BITS {
        return Err(to_py_err(
            int.py(),
            Error::InvalidInput(format!("an int of {bits} bits is larger than 2^20 bits")),
        ));
    }
    let bytes = magnitude.call_method1("to_bytes", (bits.div_ceil(8), "little"))?;
    Ok(BigInt::from_le_bytes(
        negative,
        bytes.cast::<PyBytes>()?.as_bytes(),
    ))
}
