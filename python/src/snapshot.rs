//! `v8cage.Snapshot`: a startup snapshot (the core's `Snapshot`) made from
//! a setup script, stored as bytes, and given to `Context(snapshot=...)`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use v8cage::{ContextOptions, Isolation, Snapshot};

use crate::context::{byte_count, seconds};
use crate::errors::to_py_err;

/// The state a setup script left in a context, to start contexts from.
#[pyclass(name = "Snapshot", module = "v8cage._v8cage", frozen)]
pub(crate) struct PySnapshot {
    pub(crate) inner: Snapshot,
}

#[pymethods]
impl PySnapshot {
    /// Runs `setup` once (in a worker process: V8 aborts on state it cannot
    /// keep, which then raises JSInvalidInputError) and keeps the state it
    /// leaves. `timeout` (seconds) and `max_memory` (bytes) bound it.
    #[staticmethod]
    #[pyo3(signature = (setup, timeout=None, max_memory=None))]
    fn create(
        py: Python<'_>,
        setup: &str,
        timeout: Option<f64>,
        max_memory: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        crate::worker::use_this_interpreter(py)?;
        let options = ContextOptions {
            timeout: seconds(timeout, "timeout")?,
            heap_limit: max_memory
                .map(|m| byte_count(m, "max_memory"))
                .transpose()?,
            isolation: Isolation::InProcess,
            ..ContextOptions::default()
        };
        let inner = py
            .detach(|| Snapshot::create_with(setup, &options))
            .map_err(|err| to_py_err(py, err))?;
        Ok(PySnapshot { inner })
    }

    /// The snapshot as bytes to store (checked by `from_bytes`).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// A snapshot from `to_bytes`' bytes; JSInvalidInputError unless they
    /// are whole, unchanged and made by this V8 build.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let data = data.to_vec();
        let inner = py
            .detach(|| Snapshot::from_bytes(data))
            .map_err(|err| to_py_err(py, err))?;
        Ok(PySnapshot { inner })
    }

    /// The size of V8's snapshot blob, in bytes.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!("<v8cage.Snapshot of {} bytes>", self.inner.len())
    }
}
