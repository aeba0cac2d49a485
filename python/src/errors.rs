//! The core's typed errors as the `v8cage` package's exceptions
//! (`v8cage/_errors.py` defines the classes).

use pyo3::prelude::*;
use v8cage::Error;

fn error_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("v8cage._errors")?.getattr(name)
}

/// The core's typed error as the matching `v8cage` exception.
pub(crate) fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    to_py_err_styled(py, err, None)
}

/// mini-racer's text for `err` (its `MiniRacer` messages): V8's own report of
/// an uncaught exception, `<script>:<line>: <error>`, the source line, a
/// caret under the start column, then the stack. `source`: the evaluated
/// code, for syntax errors' source line.
fn mini_racer_message(err: &Error, source: Option<&str>) -> Option<String> {
    let located = |script: &str, line: u32, detail: &str, source_line: &str, column: usize| {
        format!(
            "{script}:{line}: {detail}\n{source_line}\n{}^\n",
            " ".repeat(column)
        )
    };
    match err {
        Error::Syntax {
            message,
            line,
            column,
        } => {
            let source_line = source
                .and_then(|s| s.lines().nth((*line as usize).saturating_sub(1)))
                .unwrap_or_default();
            let detail = format!("SyntaxError: {message}");
            let head = located(
                "<anonymous>",
                *line,
                &detail,
                source_line,
                (*column as usize).saturating_sub(1),
            );
            Some(format!("{head}\n{detail}\n"))
        }
        Error::Exception {
            name,
            message,
            stack,
            location,
        } => {
            let detail = if name.is_empty() {
                message.clone()
            } else {
                format!("{name}: {message}")
            };
            let mut text = match location {
                Some(at) => located(
                    &at.script,
                    at.line,
                    &detail,
                    &at.source_line,
                    at.column as usize,
                ),
                None => format!("{detail}\n"),
            };
            if let Some(stack) = stack {
                text.push('\n');
                text.push_str(stack);
                text.push('\n');
            }
            Some(text)
        }
        Error::Timeout => Some("JavaScript was terminated by timeout".into()),
        Error::OutOfMemory => Some("JavaScript memory limit reached".into()),
        _ => None,
    }
}

/// `to_py_err`, with mini-racer's message texts when `mini_racer` is
/// `Some(source)` (see [`mini_racer_message`]).
pub(crate) fn to_py_err_styled(
    py: Python<'_>,
    err: Error,
    mini_racer: Option<Option<&str>>,
) -> PyErr {
    let message = mini_racer
        .and_then(|source| mini_racer_message(&err, source))
        .unwrap_or_else(|| with_place(&err));
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
            location,
        } => {
            let (script, line, column) =
                location.map_or((None, 0, 0), |at| (Some(at.script), at.line, at.column));
            error_class(py, "JSEvalError")
                .and_then(|c| c.call1((message, name, text, stack, script, line, column)))
        }
        Error::Timeout => error_class(py, "JSTimeoutError").and_then(|c| c.call1((message,))),
        Error::CpuTimeLimit => {
            error_class(py, "JSCpuTimeLimitError").and_then(|c| c.call1((message,)))
        }
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

/// `err`'s text, naming the script and line of an exception whose stack
/// names none (a SyntaxError in an imported module, a thrown non-Error).
fn with_place(err: &Error) -> String {
    match err {
        Error::Exception {
            location: Some(at),
            stack,
            ..
        } if !stack.as_deref().is_some_and(|s| s.contains("\n    at ")) => {
            format!("{err} ({}:{})", at.script, at.line)
        }
        _ => err.to_string(),
    }
}

pub(crate) fn conversion_error(py: Python<'_>, message: String) -> PyErr {
    to_py_err(py, Error::Conversion(message))
}
