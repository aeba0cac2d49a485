//! `v8cage._v8cage`: the native half of the `v8cage` Python package. All
//! behaviour comes from the `v8cage` crate; this file only maps values and
//! errors between it and Python, and releases the GIL while V8 works.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PyMemoryView,
    PySequence, PyString, PyTuple, PyType,
};
use v8cage::{Context, ContextOptions, Error, Function, TerminateHandle, Value};

/// Integers JS numbers hold exactly; beyond them Python ints become BigInts.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// `undefined`: a falsy singleton, distinct from `None` (`null`).
#[pyclass(frozen, module = "v8cage._v8cage", name = "JSUndefinedType")]
struct JsUndefined;

#[pymethods]
impl JsUndefined {
    fn __bool__(&self) -> bool {
        false
    }
    fn __repr__(&self) -> &'static str {
        "JSUndefined"
    }
}

fn undefined(py: Python<'_>) -> PyResult<&Bound<'_, JsUndefined>> {
    static UNDEFINED: PyOnceLock<Py<JsUndefined>> = PyOnceLock::new();
    UNDEFINED
        .get_or_try_init(py, || Py::new(py, JsUndefined))
        .map(|u| u.bind(py))
}

/// A JS function returned by `eval`/`call`, callable from Python. It keeps
/// its context's function alive until this object is collected.
#[pyclass(frozen, module = "v8cage._v8cage", name = "JSFunction")]
struct JsFunction {
    function: Function,
    context: Py<PyContext>,
}

#[pymethods]
impl JsFunction {
    /// The function's (possibly inferred, possibly empty) name.
    #[getter]
    fn name(&self) -> &str {
        self.function.name()
    }

    /// Calls the function with `this` undefined, under its context's limits.
    #[pyo3(signature = (*args, timeout=None))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let owner = self.context.bind(py);
        let context = owner.get();
        let timeout = seconds(timeout, "timeout")?;
        let args = args_to_values(args, context.max_depth)?;
        let function = &self.function;
        let value = context.with_context(py, timeout, |ctx| ctx.call_function(function, &args))?;
        to_py(owner, value)
    }

    fn __repr__(&self) -> String {
        format!("<JSFunction {:?}>", self.function.name())
    }
}

// ---- errors -----------------------------------------------------------------

fn error_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("v8cage._errors")?.getattr(name)
}

/// The core's typed error as the matching `v8cage` exception.
fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    let message = err.to_string();
    let made = match err {
        Error::Syntax {
            message: text,
            line,
            column,
        } => error_class(py, "JSSyntaxError").and_then(|c| c.call1((message, text, line, column))),
        Error::Exception {
            name,
            message: text,
            stack,
        } => error_class(py, "JSEvalError").and_then(|c| c.call1((message, name, text, stack))),
        Error::Timeout => error_class(py, "JSTimeoutError").and_then(|c| c.call1((message,))),
        Error::OutOfMemory => error_class(py, "JSOOMError").and_then(|c| c.call1((message,))),
        Error::Terminated => error_class(py, "JSTerminatedError").and_then(|c| c.call1((message,))),
        Error::Conversion(_) => {
            error_class(py, "JSConversionError").and_then(|c| c.call1((message,)))
        }
        Error::InvalidInput(_) => {
            error_class(py, "JSInvalidInputError").and_then(|c| c.call1((message,)))
        }
        _ => error_class(py, "JSError").and_then(|c| c.call1((message,))),
    };
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(import_failed) => import_failed,
    }
}

fn conversion_error(py: Python<'_>, message: String) -> PyErr {
    to_py_err(py, Error::Conversion(message))
}

// ---- JS -> Python -------------------------------------------------------------

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
fn to_py<'py>(owner: &Bound<'py, PyContext>, value: Value) -> PyResult<Bound<'py, PyAny>> {
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
        Value::BigInt(digits) => py.get_type::<PyInt>().call1((digits,))?,
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

fn from_py(py: Python<'_>, obj: &Bound<'_, PyAny>, depth: u32, max_depth: u32) -> PyResult<Value> {
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
        return Ok(Value::BigInt(obj.str()?.to_string()));
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

// ---- Ctrl-C -------------------------------------------------------------------
//
// Python's SIGINT handler only runs on the main thread between bytecodes,
// never while that thread is inside V8. The package gives us the read end of
// a pipe registered with `signal.set_wakeup_fd`, into which Python's C-level
// handler writes each signal's number. One thread reads it and stops the
// evaluation the main thread is running; that evaluation then runs Python's
// handler, which raises KeyboardInterrupt.

const SIGINT: u8 = 2;

struct InterruptWatch {
    main_thread: ThreadId,
    /// The main thread's running evaluation, if any.
    running: Mutex<Option<TerminateHandle>>,
    /// A SIGINT arrived while `running` was set.
    interrupted: AtomicBool,
}

static INTERRUPTS: OnceLock<InterruptWatch> = OnceLock::new();

fn main_thread_watch() -> Option<&'static InterruptWatch> {
    INTERRUPTS
        .get()
        .filter(|watch| watch.main_thread == std::thread::current().id())
}

/// Starts the Ctrl-C watcher on the read end of the wakeup pipe (called once,
/// from the main thread, by `v8cage/__init__.py`).
#[pyfunction]
fn _watch_interrupts(read_fd: i32) -> PyResult<()> {
    use std::os::fd::FromRawFd;
    let main_thread = std::thread::current().id();
    if INTERRUPTS.get().is_some() {
        return Ok(());
    }
    // SAFETY: the package created this pipe for us and hands over its read
    // end; nothing else reads or closes it.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(read_fd) };
    let watch = INTERRUPTS.get_or_init(|| InterruptWatch {
        main_thread,
        running: Mutex::new(None),
        interrupted: AtomicBool::new(false),
    });
    std::thread::Builder::new()
        .name("v8cage-ctrl-c".into())
        .spawn(move || {
            let mut signals = [0u8; 64];
            loop {
                let n = match pipe.read(&mut signals) {
                    Ok(0) => break,
                    Ok(n) => n,
                    // The signal itself may land on this thread and interrupt the read.
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if signals[..n].contains(&SIGINT) {
                    let running = watch.running.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(handle) = running.as_ref() {
                        watch.interrupted.store(true, Ordering::SeqCst);
                        handle.terminate();
                    }
                }
            }
        })
        .map_err(|e| PyValueError::new_err(format!("cannot start the Ctrl-C watcher: {e}")))?;
    Ok(())
}

/// Call arguments as values, each nested at most `max_depth` levels.
fn args_to_values(args: &Bound<'_, PyTuple>, max_depth: u32) -> PyResult<Vec<Value>> {
    args.iter()
        .map(|arg| from_py(args.py(), &arg, 1, max_depth))
        .collect()
}

// ---- Context ------------------------------------------------------------------

fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(PyValueError::new_err(format!(
            "{what} must be a positive number of seconds, not {s}"
        ))),
    }
}

/// One V8 isolate with its own global scope and limits. Thread-safe: calls
/// from several Python threads are serialised; the GIL is released while
/// JavaScript runs, so contexts on different threads run in parallel.
#[pyclass(frozen, module = "v8cage._v8cage", name = "Context")]
struct PyContext {
    inner: Mutex<Option<Context>>,
    stop: TerminateHandle,
    timeout: Option<Duration>,
    max_depth: u32,
}

impl PyContext {
    /// Runs `work` on the context with the GIL released.
    fn with_context<T: Send>(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
        work: impl FnOnce(&mut Context) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        let watch = main_thread_watch();
        if let Some(watch) = watch {
            *watch.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.stop.clone());
        }
        let result = py.detach(|| {
            let mut guard: MutexGuard<'_, Option<Context>> =
                self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let Some(ctx) = guard.as_mut() else {
                return Err(Error::InvalidInput("the context is closed".into()));
            };
            let per_call = timeout.is_some();
            if per_call {
                ctx.set_timeout(timeout);
            }
            let result = work(ctx);
            if per_call {
                ctx.set_timeout(self.timeout);
            }
            result
        });
        if let Some(watch) = watch {
            watch
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if watch.interrupted.swap(false, Ordering::SeqCst) {
                // Ctrl-C stopped this evaluation: Python's handler raises
                // KeyboardInterrupt (or whatever the program installed). If
                // it already ran for that signal (the byte was read late),
                // still say why the evaluation stopped.
                py.check_signals()?;
                return Err(PyKeyboardInterrupt::new_err(()));
            }
        }
        result.map_err(|err| to_py_err(py, err))
    }
}

#[pymethods]
impl PyContext {
    #[new]
    #[pyo3(signature = (timeout=None, max_memory=None))]
    fn new(py: Python<'_>, timeout: Option<f64>, max_memory: Option<usize>) -> PyResult<Self> {
        let options = ContextOptions {
            timeout: seconds(timeout, "timeout")?,
            heap_limit: max_memory,
            ..ContextOptions::default()
        };
        let max_depth = options.max_depth;
        let timeout = options.timeout;
        let ctx = py
            .detach(|| Context::new(options))
            .map_err(|err| to_py_err(py, err))?;
        Ok(PyContext {
            stop: ctx.terminate_handle(),
            inner: Mutex::new(Some(ctx)),
            timeout,
            max_depth,
        })
    }

    /// Evaluates `code` and returns its completion value as Python data.
    #[pyo3(signature = (code, timeout=None))]
    fn eval<'py>(
        slf: &Bound<'py, Self>,
        code: &str,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = seconds(timeout, "timeout")?;
        let value = slf
            .get()
            .with_context(slf.py(), timeout, |ctx| ctx.eval(code))?;
        to_py(slf, value)
    }

    /// Calls the global function (or dotted path, e.g. "JSON.stringify") `name`.
    #[pyo3(signature = (name, *args, timeout=None))]
    fn call<'py>(
        slf: &Bound<'py, Self>,
        name: &str,
        args: &Bound<'py, PyTuple>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let context = slf.get();
        let timeout = seconds(timeout, "timeout")?;
        let args = args_to_values(args, context.max_depth)?;
        let value = context.with_context(py, timeout, |ctx| ctx.call(name, &args))?;
        to_py(slf, value)
    }

    /// Memory limits in bytes below `max_memory`, checked after each garbage
    /// collection: past `hard` the running evaluation raises JSOOMError;
    /// past `soft` it is only recorded. None removes one; setting clears
    /// the records.
    #[pyo3(signature = (soft=None, hard=None))]
    fn set_memory_limits(
        &self,
        py: Python<'_>,
        soft: Option<usize>,
        hard: Option<usize>,
    ) -> PyResult<()> {
        self.with_context(py, None, |ctx| {
            ctx.set_memory_limits(soft, hard);
            Ok(())
        })
    }

    /// (soft, hard): whether each memory limit was exceeded since it was set.
    fn memory_limits_reached(&self, py: Python<'_>) -> PyResult<(bool, bool)> {
        self.with_context(py, None, |ctx| Ok(ctx.memory_limits_reached()))
    }

    /// V8 heap figures in bytes.
    fn heap_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.with_context(py, None, |ctx| Ok(ctx.heap_stats()))?;
        let dict = PyDict::new(py);
        dict.set_item("used_heap_size", stats.used)?;
        dict.set_item("total_heap_size", stats.total)?;
        dict.set_item("heap_size_limit", stats.limit)?;
        dict.set_item("external_memory", stats.external)?;
        Ok(dict)
    }

    /// Runs a full garbage collection.
    fn low_memory_notification(&self, py: Python<'_>) -> PyResult<()> {
        self.with_context(py, None, |ctx| {
            ctx.low_memory_notification();
            Ok(())
        })
    }

    /// Stops the running eval/call (from any thread); it raises JSTerminatedError.
    fn terminate(&self) {
        self.stop.terminate();
    }

    /// Frees the isolate; later calls raise JSInvalidInputError. Idempotent.
    fn close(&self, py: Python<'_>) {
        self.stop.terminate();
        let closed = py.detach(|| self.inner.lock().unwrap_or_else(|e| e.into_inner()).take());
        drop(closed);
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        py.detach(|| {
            self.inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none()
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.close(py);
    }
}

/// The linked V8's version.
#[pyfunction]
fn v8_version() -> String {
    v8cage::v8_version()
}

#[pymodule]
fn _v8cage(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyContext>()?;
    m.add_class::<JsFunction>()?;
    m.add_class::<JsUndefined>()?;
    m.add("Undefined", undefined(m.py())?)?;
    m.add_function(wrap_pyfunction!(v8_version, m)?)?;
    m.add_function(wrap_pyfunction!(_watch_interrupts, m)?)?;
    Ok(())
}
