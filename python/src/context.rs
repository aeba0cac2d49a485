//! `Context` and `JSFunction`: the core's context behind a mutex, used with
//! the GIL released.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use std::cell::RefCell;
use std::sync::Arc;

use v8cage::{
    Context, ContextOptions, Error, Events, HandleKind, Isolation, PromiseLook, PromiseState,
    PromiseWait, TerminateHandle, Value,
};

use crate::cancel::{self, CallStop, Cancellation};
use crate::convert::{args_to_values, to_py, ArgumentLimits};
use crate::errors::{to_py_err, to_py_err_styled};
use crate::interrupt::main_thread_watch;

/// A JS function returned by `eval`/`call`, callable from Python. It keeps
/// its context's function alive until this object is collected.
/// A JavaScript value kept in its context (a function, an object, a
/// promise, a symbol...); `v8cage._objects` wraps it in the proxy for its
/// kind. The context keeps the value alive while this object lives.
#[pyclass(frozen, module = "v8cage._v8cage", name = "JSHandle")]
pub(crate) struct JsHandle {
    pub(crate) value: Value,
    pub(crate) context: Py<PyContext>,
}

#[pymethods]
impl JsHandle {
    /// "function", "object", "array", "promise", "symbol", "error", "map",
    /// "set", "regexp" or "arraybuffer".
    #[getter]
    fn kind(&self) -> &'static str {
        match &self.value {
            Value::Handle(h) => match h.kind() {
                HandleKind::Array => "array",
                HandleKind::Promise => "promise",
                HandleKind::Symbol => "symbol",
                HandleKind::Error => "error",
                HandleKind::Map => "map",
                HandleKind::Set => "set",
                HandleKind::RegExp => "regexp",
                HandleKind::ArrayBuffer => "arraybuffer",
                _ => "object",
            },
            _ => "function",
        }
    }

    /// A function's name, a symbol's description, an object's constructor name.
    #[getter]
    fn label(&self) -> &str {
        match &self.value {
            Value::Handle(h) => h.label(),
            Value::Function(f) => f.name(),
            _ => "",
        }
    }

    /// An ArrayBuffer's memory (address, byte length), lent by the context
    /// while this handle lives; None for other values.
    #[getter]
    fn memory(&self) -> Option<(usize, usize)> {
        match &self.value {
            Value::Handle(h) => h
                .buffer_memory()
                .map(|(address, length)| (address as usize, length)),
            _ => None,
        }
    }

    #[getter]
    fn context(&self, py: Python<'_>) -> Py<PyContext> {
        self.context.clone_ref(py)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<JsHandle>()
            .is_ok_and(|o| o.get().value == self.value && o.get().context.is(&self.context))
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        match &self.value {
            Value::Handle(h) => (h.kind(), h.label()).hash(&mut hasher),
            Value::Function(f) => f.name().hash(&mut hasher),
            _ => {}
        }
        self.context.as_ptr().hash(&mut hasher);
        hasher.finish()
    }

    fn __repr__(&self) -> String {
        format!("<JSHandle {} {:?}>", self.kind(), self.label())
    }
}

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
pub(crate) fn byte_count(value: &Bound<'_, PyAny>, what: &str) -> PyResult<usize> {
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
#[pyclass(frozen, weakref, module = "v8cage._v8cage", name = "Context")]
pub(crate) struct PyContext {
    inner: Mutex<Option<Context>>,
    stop: TerminateHandle,
    timeout: Option<Duration>,
    argument_limits: ArgumentLimits,
    /// mini-racer's message formats (set by `v8cage.MiniRacer`).
    pub(crate) mini_racer_messages: std::sync::atomic::AtomicBool,
    /// A KeyboardInterrupt (or other non-Exception) a host function raised:
    /// it ends the evaluation and is raised when that returns.
    escaping: Mutex<Option<PyErr>>,
}

/// `Context` objects alive in this process (mini-racer's `context_count`).
pub(crate) static LIVE_CONTEXTS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

impl Drop for PyContext {
    fn drop(&mut self) {
        LIVE_CONTEXTS.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// Contexts this thread is inside (their host functions may run Python
    /// that calls them again, which would deadlock on their mutex).
    static ENTERED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks a context entered by this thread while it lives.
struct Entered(usize);

impl Entered {
    fn enter(context: &PyContext) -> Result<Entered, Error> {
        let id = context as *const PyContext as usize;
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if entered.contains(&id) {
                return Err(Error::InvalidInput(
                    "a host function cannot use its own context while that context runs it \
                     (schedule the work instead, e.g. make the function async)"
                        .into(),
                ));
            }
            entered.push(id);
            Ok(Entered(id))
        })
    }
}

impl Entered {
    fn is_inside(context: &PyContext) -> bool {
        let id = context as *const PyContext as usize;
        ENTERED.with(|entered| entered.borrow().contains(&id))
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        ENTERED.with(|entered| entered.borrow_mut().retain(|&id| id != self.0));
    }
}

impl PyContext {
    /// Runs `work` on the context with the GIL released.
    fn with_context<T: Send>(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
        work: impl FnOnce(&mut Context) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        self.with_context_for(py, timeout, None, work)
    }

    /// `with_context` for evaluating `source` (quoted in syntax errors).
    fn with_context_for<T: Send>(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
        source: Option<&str>,
        work: impl FnOnce(&mut Context) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        let watch = main_thread_watch();
        if let Some(watch) = watch {
            watch.begin(self.stop.clone());
            // A Ctrl-C that came just before: raised now, not after the work.
            if let Err(interrupted) = py.check_signals() {
                watch.end();
                return Err(interrupted);
            }
        }
        let entered = Entered::enter(self);
        let result = py.detach(|| {
            let _entered = entered?;
            let mut guard: MutexGuard<'_, Option<Context>> =
                self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let Some(ctx) = guard.as_mut() else {
                return Err(Error::InvalidInput("the context is closed".into()));
            };
            let cancelable = cancel::take_current();
            let result = (|| {
                let _running = cancelable.as_deref().map(CallStop::begin).transpose()?;
                let per_call = timeout.is_some();
                if per_call {
                    ctx.set_timeout(timeout);
                }
                let result = work(ctx);
                if per_call {
                    ctx.set_timeout(self.timeout);
                }
                result
            })();
            cancel::restore(cancelable);
            result
        });
        // Taken first, so that it never outlives this evaluation.
        let escaping = self
            .escaping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(watch) = watch {
            if watch.end() {
                // Ctrl-C stopped this evaluation: Python's handler raises
                // KeyboardInterrupt (or whatever the program installed). If
                // it already ran for that signal (the byte was read late),
                // still say why the evaluation stopped.
                py.check_signals()?;
                return Err(PyKeyboardInterrupt::new_err(()));
            }
        }
        if let Some(err) = escaping {
            return Err(err);
        }
        result.map_err(|err| self.to_py_err(py, err, source))
    }

    /// The exception for `err` in this context's message style; `source`:
    /// the code evaluated, if any.
    fn to_py_err(&self, py: Python<'_>, err: Error, source: Option<&str>) -> PyErr {
        let mini_racer = self.mini_racer_messages.load(Ordering::Relaxed);
        to_py_err_styled(py, err, mini_racer.then_some(source))
    }

    /// The core value behind a proxy or handle (`None`: the global object).
    fn target(target: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Value>> {
        let Some(target) = target else {
            return Ok(None);
        };
        let handle = match target.cast::<JsHandle>() {
            Ok(handle) => handle.clone(),
            Err(_) => target
                .getattr("_handle")
                .and_then(|h| Ok(h.cast_into::<JsHandle>()?))
                .map_err(|_| PyValueError::new_err("not a JavaScript object handle"))?,
        };
        let value = handle.get().value.clone();
        Ok(Some(value))
    }

    fn one_value(&self, value: &Bound<'_, PyAny>) -> PyResult<Value> {
        let tuple = PyTuple::new(value.py(), [value])?;
        Ok(args_to_values(&tuple, &self.argument_limits)?
            .pop()
            .unwrap_or(Value::Undefined))
    }
}

/// `Context(...)`'s arguments as the core's options (shared with
/// `prestart_context`, which must make the spare those arguments ask for).
pub(crate) fn context_options(
    py: Python<'_>,
    timeout: Option<f64>,
    max_memory: Option<&Bound<'_, PyAny>>,
    isolation: &str,
    objects: &str,
    event_loop: bool,
    cpu_time_limit: Option<f64>,
) -> PyResult<ContextOptions> {
    let object_handles = match objects {
        "copy" => false,
        "handles" => true,
        other => {
            return Err(PyValueError::new_err(format!(
                "objects must be \"copy\" or \"handles\", not {other:?}"
            )))
        }
    };
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
    Ok(ContextOptions {
        timeout: seconds(timeout, "timeout")?,
        cpu_time_limit: seconds(cpu_time_limit, "cpu_time_limit")?,
        heap_limit: max_memory
            .map(|m| byte_count(m, "max_memory"))
            .transpose()?,
        isolation,
        object_handles,
        event_loop,
        ..ContextOptions::default()
    })
}

#[pymethods]
impl PyContext {
    #[new]
    #[pyo3(signature = (timeout=None, max_memory=None, isolation="in-process", *, objects="copy", event_loop=true, cpu_time_limit=None, module_loader=None, snapshot=None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn new(
        py: Python<'_>,
        timeout: Option<f64>,
        max_memory: Option<&Bound<'_, PyAny>>,
        isolation: &str,
        objects: &str,
        event_loop: bool,
        cpu_time_limit: Option<f64>,
        module_loader: Option<Py<PyAny>>,
        snapshot: Option<PyRef<'_, crate::snapshot::PySnapshot>>,
    ) -> PyResult<Self> {
        let mut options = context_options(
            py,
            timeout,
            max_memory,
            isolation,
            objects,
            event_loop,
            cpu_time_limit,
        )?;
        options.module_loader = module_loader.map(crate::modules::python_module_loader);
        options.snapshot = snapshot.map(|s| s.inner.clone());
        let argument_limits = ArgumentLimits {
            max_depth: options.max_depth,
            max_bytes: options.max_result_bytes,
        };
        let timeout = options.timeout;
        let ctx = py
            .detach(|| Context::new(options))
            .map_err(|err| to_py_err(py, err))?;
        LIVE_CONTEXTS.fetch_add(1, Ordering::Relaxed);
        Ok(PyContext {
            stop: ctx.terminate_handle(),
            inner: Mutex::new(Some(ctx)),
            timeout,
            argument_limits,
            mini_racer_messages: Default::default(),
            escaping: Mutex::new(None),
        })
    }

    /// mini-racer's name for `handle_count`.
    fn value_count(&self) -> usize {
        self.handle_count()
    }

    /// mini-racer's question: whether V8's own sandbox is on. The current
    /// V8 (`cargo xtask v8 build`) has it; Debian's 10.2 has none (v8cage's
    /// own sandbox, the worker process of `isolation="process"`, is another
    /// layer). A worker runs the same V8 library as this process.
    fn v8_is_using_sandbox(&self, py: Python<'_>) -> PyResult<bool> {
        v8cage::v8_sandboxed().map_err(|err| to_py_err(py, err))
    }

    /// mini-racer's formats for this context's error messages and binary
    /// results (writable memoryviews); MiniRacer sets it.
    fn _use_mini_racer_messages(&self) {
        self.mini_racer_messages.store(true, Ordering::Relaxed);
    }

    #[pyo3(signature = (target, key))]
    fn _get<'py>(
        slf: &Bound<'py, Self>,
        target: Option<&Bound<'py, PyAny>>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let context = slf.get();
        let (target, key) = (Self::target(target)?, context.one_value(key)?);
        let value = context.with_context(slf.py(), None, |ctx| ctx.get(target.as_ref(), &key))?;
        to_py(slf, value)
    }

    #[pyo3(signature = (target, key, value))]
    pub(crate) fn _set(
        &self,
        py: Python<'_>,
        target: Option<&Bound<'_, PyAny>>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (target, key, value) = (
            Self::target(target)?,
            self.one_value(key)?,
            self.one_value(value)?,
        );
        self.with_context(py, None, |ctx| ctx.set(target.as_ref(), &key, &value))
    }

    #[pyo3(signature = (target, key))]
    fn _has(
        &self,
        py: Python<'_>,
        target: Option<&Bound<'_, PyAny>>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let (target, key) = (Self::target(target)?, self.one_value(key)?);
        self.with_context(py, None, |ctx| ctx.has(target.as_ref(), &key))
    }

    #[pyo3(signature = (target, key))]
    fn _delete(
        &self,
        py: Python<'_>,
        target: Option<&Bound<'_, PyAny>>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let (target, key) = (Self::target(target)?, self.one_value(key)?);
        self.with_context(py, None, |ctx| ctx.delete(target.as_ref(), &key))
    }

    #[pyo3(signature = (target))]
    fn _keys<'py>(
        slf: &Bound<'py, Self>,
        target: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let target = Self::target(target)?;
        let keys = slf
            .get()
            .with_context(slf.py(), None, |ctx| ctx.keys(target.as_ref()))?;
        to_py(slf, Value::Array(keys))
    }

    /// Calls `function` with `this` (None: undefined) and `args`.
    #[pyo3(signature = (function, this, args, timeout=None))]
    fn _call<'py>(
        slf: &Bound<'py, Self>,
        function: &Bound<'py, PyAny>,
        this: Option<&Bound<'py, PyAny>>,
        args: &Bound<'py, PyTuple>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let context = slf.get();
        let timeout = seconds(timeout, "timeout")?;
        let function = Self::target(Some(function))?.unwrap_or(Value::Undefined);
        let this = match this {
            Some(this) => context.one_value(this)?,
            None => Value::Undefined,
        };
        let args = args_to_values(args, &context.argument_limits)?;
        let value = context.with_context(slf.py(), timeout, |ctx| {
            ctx.call_with_this(&function, &this, &args)
        })?;
        to_py(slf, value)
    }

    /// (state, value): state 0 pending, 1 fulfilled (value), 2 rejected (reason).
    fn _promise_state<'py>(
        slf: &Bound<'py, Self>,
        promise: &Bound<'py, PyAny>,
    ) -> PyResult<(u8, Bound<'py, PyAny>)> {
        let promise = Self::target(Some(promise))?.unwrap_or(Value::Undefined);
        let state = slf
            .get()
            .with_context(slf.py(), None, |ctx| ctx.promise_state(&promise))?;
        promise_pair(slf, state)
    }

    /// Waits up to `timeout` seconds (None: no bound) for `promise` to
    /// settle, running timers as they come due. Between looks the context
    /// is free (another thread may settle the promise through it) and
    /// Python's signal handlers run (Ctrl-C raises KeyboardInterrupt).
    #[pyo3(signature = (promise, timeout=None))]
    fn _await_promise<'py>(
        slf: &Bound<'py, Self>,
        promise: &Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<(u8, Bound<'py, PyAny>)> {
        let py = slf.py();
        let wait = match timeout {
            Some(t) if t <= 0.0 => Some(Duration::ZERO),
            other => seconds(other, "timeout")?,
        };
        let promise = Self::target(Some(promise))?.unwrap_or(Value::Undefined);
        let mut waiting = PromiseWait::new(wait);
        loop {
            let look = slf
                .get()
                .with_context(py, None, |ctx| waiting.look(ctx, &promise))?;
            match look {
                PromiseLook::Done(state) => return promise_pair(slf, state),
                PromiseLook::Pause(pause) => {
                    py.detach(|| std::thread::sleep(pause));
                    py.check_signals()?;
                }
            }
        }
    }

    /// Runs due timers and pending jobs; seconds until the next timer, or None.
    fn run_pending(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        let next = self.with_context(py, None, |ctx| ctx.run_pending())?;
        Ok(next.map(|d| d.as_secs_f64()))
    }

    /// A JavaScript function that calls the Python callable `function`
    /// synchronously, on the evaluating thread (see `expose`).
    fn _host_function<'py>(
        slf: &Bound<'py, Self>,
        function: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let weak = pyo3::types::PyWeakrefReference::new(slf)?.unbind();
        let function = function.unbind();
        let callback = Arc::new(move |args: Vec<Value>| -> Result<Value, String> {
            Python::attach(|py| call_python(py, &weak, &function, args))
        });
        let value = slf
            .get()
            .with_context(slf.py(), None, |ctx| ctx.host_function(callback))?;
        to_py(slf, value)
    }

    /// `eval` as a coroutine: runs in a worker thread (the event loop goes
    /// on), a resulting promise is awaited too, and cancelling the awaiting
    /// task (e.g. `asyncio.wait_for`, Ctrl-C under `asyncio.run`)
    /// terminates the JavaScript.
    #[pyo3(signature = (code, timeout=None))]
    fn eval_async<'py>(
        slf: &Bound<'py, Self>,
        code: &str,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py()
            .import("v8cage._objects")?
            .call_method1("eval_async", (slf, code, timeout))
    }

    /// V8's heap snapshot as JSON text (what Chrome DevTools loads).
    fn heap_snapshot(&self, py: Python<'_>) -> PyResult<String> {
        self.with_context(py, None, |ctx| ctx.heap_snapshot())
    }

    /// Defines the global `name` as a JavaScript function that calls the
    /// Python callable `function` synchronously, on the evaluating thread
    /// and inside the evaluation's timeout. Its exceptions are thrown in
    /// JavaScript as Errors (with the traceback); it cannot use this
    /// context itself (JSInvalidInputError). A process context's worker
    /// sends each call over its channel.
    ///
    /// An async function (from async code) becomes a JavaScript function
    /// returning a Promise, settled when the coroutine, run on the current
    /// event loop, finishes.
    fn expose(slf: &Bound<'_, Self>, name: &str, function: Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let is_async = py
            .import("inspect")?
            .call_method1("iscoroutinefunction", (&function,))?
            .is_truthy()?;
        if is_async {
            py.import("v8cage._objects")?
                .call_method1("expose_async", (slf, name, function))?;
            return Ok(());
        }
        let js_function = Self::_host_function(slf, function)?;
        slf.get()._set(
            slf.py(),
            None,
            &PyString::new(slf.py(), name).into_any(),
            &js_function,
        )
    }

    /// Handles (functions, objects, promises...) held by Python now.
    fn handle_count(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, Context::handle_count)
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
        dict.set_item("resident_memory_bound", report.resident_memory_bound)?;
        dict.set_item("v8_sandbox", report.v8_sandbox)?;
        dict.set_item("file_limits", report.file_limits)?;
        Ok(Some(dict))
    }

    /// The most memory a process-isolated context's worker has had resident
    /// (its RSS high-water mark), in bytes, also after the worker was lost;
    /// `None` for an in-process context.
    fn worker_peak_resident(&self) -> Option<u64> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(Context::worker_peak_resident)
    }

    /// Evaluates `code` and returns its completion value as Python data.
    #[pyo3(signature = (code, timeout=None))]
    fn eval<'py>(
        slf: &Bound<'py, Self>,
        code: &str,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = seconds(timeout, "timeout")?;
        let owner = slf.clone().unbind();
        let built = slf
            .get()
            .with_context_for(slf.py(), timeout, Some(code), |ctx| {
                ctx.eval_with(code, |events| Ok(build_from(&owner, events)))
            })?;
        Ok(built?.into_bound(slf.py()))
    }

    /// Evaluates `source` as the ES module `name` and returns its exports
    /// (a dict; a handle with objects="handles"). Its imports come from the
    /// context's `module_loader`; a top-level await settles within the
    /// timeout, timers running as they come due.
    #[pyo3(signature = (source, name="main.mjs", timeout=None))]
    fn eval_module<'py>(
        slf: &Bound<'py, Self>,
        source: &str,
        name: &str,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = seconds(timeout, "timeout")?;
        let value = slf
            .get()
            .with_context_for(slf.py(), timeout, Some(source), |ctx| {
                ctx.eval_module(name, source)
            })?;
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
        let owner = slf.clone().unbind();
        let built = context.with_context(py, timeout, |ctx| {
            ctx.call_with(name, &args, |events| Ok(build_from(&owner, events)))
        })?;
        Ok(built?.into_bound(py))
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

    /// A stop for one cancelable call (`v8cage._objects.run_cancelable`).
    fn _cancellation(&self) -> Cancellation {
        Cancellation::new(self.stop.clone())
    }

    /// Frees the isolate; later calls raise JSInvalidInputError. Idempotent.
    fn close(&self, py: Python<'_>) {
        self.stop.terminate();
        // From inside this context's own evaluation (a host function, or a
        // finaliser run while a result is built) the context is busy on
        // this very thread: waiting for it would deadlock. It stops; the
        // caller's next use closes it, or dropping this object frees it.
        if Entered::is_inside(self) {
            return;
        }
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

fn promise_pair<'py>(
    owner: &Bound<'py, PyContext>,
    state: PromiseState,
) -> PyResult<(u8, Bound<'py, PyAny>)> {
    Ok(match state {
        PromiseState::Pending => (0, crate::convert::undefined(owner.py())?.clone().into_any()),
        PromiseState::Fulfilled(v) => (1, to_py(owner, v)?),
        PromiseState::Rejected(v) => (2, to_py(owner, v)?),
    })
}

/// Runs a Python host function: arguments in, its result out; an exception
/// becomes the message JavaScript's Error carries (with the traceback).
fn call_python(
    py: Python<'_>,
    weak: &Py<pyo3::types::PyWeakrefReference>,
    function: &Py<PyAny>,
    args: Vec<Value>,
) -> Result<Value, String> {
    let owner = weak
        .bind(py)
        .upgrade()
        .ok_or_else(|| "the context is gone".to_string())?;
    let owner = owner.cast_into::<PyContext>().map_err(|e| e.to_string())?;
    let outcome = (|| {
        let args = to_py(&owner, Value::Array(args))?;
        let args = PyTuple::new(py, args.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
        let result = function.bind(py).call1(args)?;
        owner.get().one_value(&result)
    })();
    outcome.map_err(|err| {
        if err.is_instance_of::<pyo3::exceptions::PyException>(py) {
            return python_error_text(py, err);
        }
        // KeyboardInterrupt, SystemExit...: not JavaScript's to catch. The
        // evaluation stops, and the host raises it once it has.
        let context = owner.get();
        *context.escaping.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
        context.stop.terminate();
        "interrupted by the host".to_string()
    })
}

/// What JavaScript's Error says about a Python exception: its traceback.
pub(crate) fn python_error_text(py: Python<'_>, err: PyErr) -> String {
    let formatted = py
        .import("traceback")
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (err.get_type(py), err.value(py), err.traceback(py)),
            )
        })
        .and_then(|lines| PyString::new(py, "").call_method1("join", (lines,)))
        .and_then(|text| text.extract::<String>());
    format!(
        "Error running Python function:\n{}",
        formatted.unwrap_or_else(|_| err.to_string())
    )
}

/// Builds the Python object for a result straight from its events, taking
/// the GIL back for that (the context stays locked meanwhile). A Python
/// failure is returned inside, to be raised once the context is released.
fn build_from(owner: &Py<PyContext>, events: &mut Events<'_>) -> PyResult<Py<PyAny>> {
    Python::attach(|py| {
        crate::convert::events_to_py(owner.bind(py), || events.next()).map(Bound::unbind)
    })
}
