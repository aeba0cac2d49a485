//! `Context(module_loader=...)`: a Python callable `(name, referrer)` that
//! returns a module's source text, or a coroutine function doing so.

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use v8cage::ModuleLoader;

use crate::context::python_error_text;

/// The core's loader around the Python callable `loader`: called with the
/// GIL taken back on the evaluating thread; its exceptions become the
/// message of the Error JavaScript sees at the import.
pub(crate) fn python_module_loader(loader: Py<PyAny>) -> ModuleLoader {
    ModuleLoader::new(move |name, referrer| {
        Python::attach(|py| load(py, &loader, name, referrer).map_err(|e| python_error_text(py, e)))
    })
}

fn load(py: Python<'_>, loader: &Py<PyAny>, name: &str, referrer: &str) -> PyResult<String> {
    let mut source = loader.bind(py).call1((name, referrer))?;
    if py
        .import("inspect")?
        .call_method1("iscoroutine", (&source,))?
        .is_truthy()?
    {
        source = run_coroutine(py, source)?;
    }
    source.extract::<String>().map_err(|_| {
        PyTypeError::new_err(format!(
            "the module loader must return the source text of '{name}' as a str, not {}",
            source
                .get_type()
                .name()
                .map_or_else(|_| "another type".into(), |n| n.to_string())
        ))
    })
}

/// Runs `coroutine` to its end on an event loop of its own: here, or on a
/// helper thread when this thread's loop is the one blocked in the
/// evaluation (an `eval_module` called from async code).
fn run_coroutine<'py>(
    py: Python<'py>,
    coroutine: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let asyncio = py.import("asyncio")?;
    if asyncio.call_method0("get_running_loop").is_err() {
        return asyncio.call_method1("run", (coroutine,));
    }
    let coroutine = coroutine.unbind();
    let helper = std::thread::spawn(move || {
        Python::attach(|py| {
            py.import("asyncio")?
                .call_method1("run", (coroutine,))
                .map(Bound::unbind)
        })
    });
    let done = py
        .detach(|| helper.join())
        .map_err(|_| PyRuntimeError::new_err("the module loader's thread panicked"))??;
    Ok(done.into_bound(py))
}
