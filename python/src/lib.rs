//! `v8cage._v8cage`: the native half of the `v8cage` Python package. All
//! behaviour comes from the `v8cage` crate; this crate only maps values
//! (`convert`) and errors (`errors`) between it and Python, releases the GIL
//! while V8 works (`context`), lets Ctrl-C stop JavaScript (`interrupt`) and
//! starts process-isolated contexts' workers from this interpreter (`worker`).

use pyo3::prelude::*;

mod cancel;
mod context;
mod convert;
mod errors;
mod interrupt;
mod modules;
mod snapshot;
mod worker;

use context::{JsHandle, PyContext};
use convert::{undefined, JsUndefined};
use interrupt::_watch_interrupts;

/// Starts a spare worker process for process-isolated contexts now, so the
/// next one is created in about the time an in-process one takes.
#[pyfunction]
fn prestart_worker(py: Python<'_>) -> PyResult<()> {
    worker::use_this_interpreter(py)?;
    py.detach(v8cage::prestart_worker)
        .map_err(|err| errors::to_py_err(py, err))
}

/// Makes a spare context with these options (`Context`'s arguments) on a
/// background thread now, so the next `Context(...)` with the same options
/// takes it instead of starting V8 for itself.
#[pyfunction]
#[pyo3(signature = (timeout=None, max_memory=None, isolation="in-process", *, objects="copy", event_loop=true, cpu_time_limit=None))]
fn prestart_context(
    py: Python<'_>,
    timeout: Option<f64>,
    max_memory: Option<&Bound<'_, PyAny>>,
    isolation: &str,
    objects: &str,
    event_loop: bool,
    cpu_time_limit: Option<f64>,
) -> PyResult<()> {
    let options = context::context_options(
        py,
        timeout,
        max_memory,
        isolation,
        objects,
        event_loop,
        cpu_time_limit,
    )?;
    py.detach(|| v8cage::prestart_context(&options))
        .map_err(|err| errors::to_py_err(py, err))
}

/// Keeps `n` warm spare contexts (isolates, and worker processes for
/// process contexts; default 1); 0 frees the spares kept now.
#[pyfunction]
fn set_spare_contexts(py: Python<'_>, n: usize) {
    py.detach(|| v8cage::set_spare_contexts(n));
}

/// The linked V8's version.
/// Sets V8 flags (space-separated) for when V8 starts, with the first
/// context; afterwards, or for a refused flag, JSInvalidInputError.
#[pyfunction]
fn set_flags(py: Python<'_>, flags: &str) -> PyResult<()> {
    v8cage::set_flags(flags).map_err(|err| errors::to_py_err(py, err))
}

/// Live `Context` objects.
#[pyfunction]
fn _context_count() -> usize {
    context::LIVE_CONTEXTS.load(std::sync::atomic::Ordering::Relaxed)
}

#[pyfunction]
fn v8_version() -> String {
    v8cage::v8_version()
}

/// Whether ICU's memory (Intl objects) counts against each context's heap
/// limit (`v8cage::icu_memory_counted`).
#[pyfunction]
fn icu_memory_counted(py: Python<'_>) -> PyResult<bool> {
    v8cage::icu_memory_counted().map_err(|err| errors::to_py_err(py, err))
}

#[pymodule]
fn _v8cage(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyContext>()?;
    m.add_class::<snapshot::PySnapshot>()?;
    m.add_class::<JsHandle>()?;
    m.add_class::<JsUndefined>()?;
    m.add_class::<cancel::Cancellation>()?;
    m.add("Undefined", undefined(m.py())?)?;
    m.add_function(wrap_pyfunction!(v8_version, m)?)?;
    m.add_function(wrap_pyfunction!(icu_memory_counted, m)?)?;
    m.add_function(wrap_pyfunction!(set_flags, m)?)?;
    m.add_function(wrap_pyfunction!(_context_count, m)?)?;
    m.add_function(wrap_pyfunction!(prestart_worker, m)?)?;
    m.add_function(wrap_pyfunction!(prestart_context, m)?)?;
    m.add_function(wrap_pyfunction!(set_spare_contexts, m)?)?;
    m.add_function(wrap_pyfunction!(_watch_interrupts, m)?)?;
    Ok(())
}
