//! `Context` and `JSFunction`: the core's context behind a mutex, used with
//! the GIL released.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use v8cage::{Context, ContextOptions, Error, Function, Isolation, TerminateHandle};

use crate::convert::{args_to_values, to_py, ArgumentLimits};
use crate::errors::to_py_err;
use crate::interrupt::main_thread_watch;

/// A JS function returned by `eval`/`call`, callable from Python. It keeps
/// its context's function alive until this object is collected.
#[pyclass(frozen, module = "v8cage._v8cage", name = "JSFunction")]
pub(crate) struct JsFunction {
    pub(crate) function: Function,
    pub(crate) context: Py<PyContext>,
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
        let args = args_to_values(args, &context.argument_limits)?;
        let function = &self.function;
        let value = context.with_context(py, timeout, |ctx| ctx.call_function(function, &args))?;
        to_py(owner, value)
    }

    fn __repr__(&self) -> String {
        format!("<JSFunction {:?}>", self.function.name())
    }
}

/// A timeout in seconds: positive and at most `Duration::MAX` (~5.8e11
/// years). Larger ones are a `ValueError`, not "no limit": `None` says that.
pub(crate) fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    let Some(s) = value else {
        return Ok(None);
    };
    if !(s.is_finite() && s > 0.0) {
        return Err(PyValueError::new_err(format!(
            "{what} must be a positive number of seconds, not {s}"
        )));
    }
    Duration::try_from_secs_f64(s).map(Some).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} of {s} seconds is too large; pass None for no limit"
        ))
    })
}

/// A byte count: an int from 0 to `usize::MAX` (a `ValueError` otherwise,
/// also for ints too large for any machine word).
fn byte_count(value: &Bound<'_, PyAny>, what: &str) -> PyResult<usize> {
    let out_of_range =
        || PyValueError::new_err(format!("{what} must be a positive number of bytes"));
    let n: i128 = value.extract().map_err(|e: PyErr| {
        if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(value.py()) {
            out_of_range()
        } else {
            e
        }
    })?;
    usize::try_from(n).map_err(|_| out_of_range())
}

/// One V8 isolate with its own global scope and limits. Thread-safe: calls
/// from several Python threads are serialised; the GIL is released while
/// JavaScript runs, so contexts on different threads run in parallel.
#[pyclass(frozen, module = "v8cage._v8cage", name = "Context")]
pub(crate) struct PyContext {
    inner: Mutex<Option<Context>>,
    stop: TerminateHandle,
    timeout: Option<Duration>,
    argument_limits: ArgumentLimits,
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
    #[pyo3(signature = (timeout=None, max_memory=None, isolation="in-process"))]
    fn new(
        py: Python<'_>,
        timeout: Option<f64>,
        max_memory: Option<&Bound<'_, PyAny>>,
        isolation: &str,
    ) -> PyResult<Self> {
        let isolation = match isolation {
            "in-process" | "in_process" => Isolation::InProcess,
            "process" => {
                crate::worker::use_this_interpreter(py)?;
                Isolation::Process
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "isolation must be \"in-process\" or \"process\", not {other:?}"
                )))
            }
        };
        let options = ContextOptions {
            timeout: seconds(timeout, "timeout")?,
            heap_limit: max_memory
                .map(|m| byte_count(m, "max_memory"))
                .transpose()?,
            isolation,
            ..ContextOptions::default()
        };
        let argument_limits = ArgumentLimits {
            max_depth: options.max_depth,
            max_bytes: options.max_result_bytes,
        };
        let timeout = options.timeout;
        let ctx = py
            .detach(|| Context::new(options))
            .map_err(|err| to_py_err(py, err))?;
        Ok(PyContext {
            stop: ctx.terminate_handle(),
            inner: Mutex::new(Some(ctx)),
            timeout,
            argument_limits,
        })
    }

    /// The sandbox layers of a process-isolated context's worker, as a
    /// dict; `None` for an in-process context.
    fn isolation_report<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let report = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|ctx| ctx.isolation_report().copied());
        let Some(report) = report else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        dict.set_item("worker_pid", report.worker_pid)?;
        dict.set_item("user_namespace", report.user_namespace)?;
        dict.set_item("network_namespace", report.network_namespace)?;
        dict.set_item("inherited_fds_closed", report.inherited_fds_closed)?;
        dict.set_item("no_new_privs", report.no_new_privs)?;
        dict.set_item("seccomp", report.seccomp)?;
        dict.set_item("address_space_limit", report.address_space_limit)?;
        dict.set_item("file_limits", report.file_limits)?;
        Ok(Some(dict))
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
        let args = args_to_values(args, &context.argument_limits)?;
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
        soft: Option<&Bound<'_, PyAny>>,
        hard: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let soft = soft.map(|b| byte_count(b, "soft")).transpose()?;
        let hard = hard.map(|b| byte_count(b, "hard")).transpose()?;
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
