//! The core's typed errors as the `v8cage` package's exceptions
//! (`v8cage/_errors.py` defines the classes).

use pyo3::prelude::*;
use v8cage::Error;

fn error_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("v8cage._errors")?.getattr(name)
}

/// The core's typed error as the matching `v8cage` exception.
pub(crate) fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
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
        Error::Crashed { signal, .. } => {
            error_class(py, "JSCrashedError").and_then(|c| c.call1((message, signal)))
        }
        _ => error_class(py, "JSError").and_then(|c| c.call1((message,))),
    };
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(import_failed) => import_failed,
    }
}

pub(crate) fn conversion_error(py: Python<'_>, message: String) -> PyErr {
    to_py_err(py, Error::Conversion(message))
}
