//! Values between JavaScript (the core's `Value`) and Python, both ways.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PyMemoryView,
    PySequence, PyString, PyTuple, PyType,
};
use v8cage::{BigInt, Error, Value, MAX_BIGINT_BITS, MAX_SAFE_INTEGER};

use crate::context::{JsFunction, PyContext};
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

/// `owner`: the context the value came from (functions stay callable through it).
pub(crate) fn to_py<'py>(
    owner: &Bound<'py, PyContext>,
    value: Value,
) -> PyResult<Bound<'py, PyAny>> {
    let py = owner.py();
    Ok(match value {
        Value::Undefined => undefined(py)?.clone().into_any(),
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Value::Number(n) => {
            let integral = n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER;
            if integral && !(n == 0.0 && n.is_sign_negative()) {
                (n as i64).into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n).into_any()
            }
        }
        Value::BigInt(big) => bigint_to_py(py, &big)?,
        Value::String(s) => PyString::new(py, &s).into_any(),
        Value::Array(items) => {
            let converted = items
                .into_iter()
                .map(|item| to_py(owner, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, converted)?.into_any()
        }
        Value::Object(entries) => {
            let dict = PyDict::new(py);
            for (key, item) in entries {
                dict.set_item(PyString::new(py, &key), to_py(owner, item)?)?;
            }
            dict.into_any()
        }
        Value::Date(ms) => date_to_py(py, ms)?,
        Value::Bytes(bytes) => PyBytes::new(py, &bytes).into_any(),
        Value::Function(function) => Bound::new(
            py,
            JsFunction {
                function,
                context: owner.clone().unbind(),
            },
        )?
        .into_any(),
    })
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

pub(crate) fn from_py(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    depth: u32,
    max_depth: u32,
) -> PyResult<Value> {
    if depth > max_depth {
        return Err(conversion_error(
            py,
            format!("argument nested deeper than {max_depth} levels (or a cycle)"),
        ));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if obj.is_instance_of::<JsUndefined>() {
        return Ok(Value::Undefined);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            if (i as f64).abs() <= MAX_SAFE_INTEGER {
                return Ok(Value::Number(i as f64));
            }
        }
        return bigint_from_py(obj).map(Value::BigInt);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Number(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        // Its bytes, not a list of ints (memoryview is also a Sequence).
        let bytes = py.get_type::<PyBytes>().call1((obj,))?;
        return Ok(Value::Bytes(bytes.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    if obj.is_instance(datetime_type(py)?)? {
        return Ok(Value::Date(datetime_to_ms(py, obj)?));
    }
    if obj.is_instance_of::<JsFunction>() {
        return Err(PyTypeError::new_err(
            "a JSFunction cannot be passed back into JavaScript",
        ));
    }
    if let Ok(mapping) = obj.cast::<PyMapping>() {
        let mut entries = Vec::new();
        for item in mapping.items()?.iter() {
            let (key, item): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let Ok(key) = key.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "object keys must be str, not {}",
                    type_name(&key)
                )));
            };
            entries.push((
                key.to_cow()?.into_owned(),
                from_py(py, &item, depth + 1, max_depth)?,
            ));
        }
        return Ok(Value::Object(entries));
    }
    if obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.cast::<PySequence>().is_ok()
    {
        let mut items = Vec::new();
        for item in obj.try_iter()? {
            items.push(from_py(py, &item?, depth + 1, max_depth)?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(view) = obj.call_method0("__bytes__") {
        if let Ok(b) = view.cast::<PyBytes>() {
            return Ok(Value::Bytes(b.as_bytes().to_vec()));
        }
    }
    Err(PyTypeError::new_err(format!(
        "cannot pass a {} to JavaScript",
        type_name(obj)
    )))
}

/// Call arguments as values, each nested at most `max_depth` levels.
pub(crate) fn args_to_values(args: &Bound<'_, PyTuple>, max_depth: u32) -> PyResult<Vec<Value>> {
    args.iter()
        .map(|arg| from_py(args.py(), &arg, 1, max_depth))
        .collect()
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
