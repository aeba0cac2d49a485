//! Where a process-isolated context's worker comes from in Python: this
//! interpreter, loading this very extension module. v8cage's start-up hook
//! in the extension turns the loading process into the worker (the core's
//! `process::worker`), so the wheel needs no executable of its own.

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// Loads the extension by path with ctypes (`-I -S` keep the user's
/// environment and site-packages out of the worker's start), telling the
/// start-up hook that it runs inside dlopen, then waits: the hook's context
/// thread serves the context and ends the process. Nothing is imported
/// after the load: the sandbox soon refuses opening files. A Ctrl-C meant
/// for the host must not end the waiting interpreter (the host stops the
/// worker's evaluation itself).
fn load_extension_script() -> String {
    format!(
        "import ctypes, os, signal, sys, time\n\
         signal.signal(signal.SIGINT, signal.SIG_IGN)\n\
         os.environ['{}'] = '1'\n\
         ctypes.CDLL(sys.argv[1])\n\
         while True:\n    time.sleep(3600)",
        v8cage::LOADED_BY_DLOPEN_ENV
    )
}

/// Sets the core's worker command to this interpreter loading this module
/// (once per process).
pub(crate) fn use_this_interpreter(py: Python<'_>) -> PyResult<()> {
    static SET: OnceLock<Result<(), String>> = OnceLock::new();
    let result = SET.get_or_init(|| {
        let executable: String = py
            .import("sys")
            .and_then(|sys| sys.getattr("executable")?.extract())
            .map_err(|e| e.to_string())?;
        if executable.is_empty() {
            return Err("sys.executable is empty: no interpreter to start a worker with".into());
        }
        let extension = this_shared_object()?;
        v8cage::set_worker_command(
            executable,
            vec![
                "-I".into(),
                "-S".into(),
                "-c".into(),
                load_extension_script().into(),
                extension,
            ],
        );
        Ok(())
    });
    result.clone().map_err(PyRuntimeError::new_err)
}

/// The path of the shared object this code was loaded from.
fn this_shared_object() -> Result<OsString, String> {
    let mut info: libc::Dl_info = empty_dl_info();
    let anchor = this_shared_object as *const libc::c_void;
    // SAFETY: `anchor` is an address inside this module; `info` is a valid
    // out-pointer; dladdr only fills it.
    if unsafe { libc::dladdr(anchor, &mut info) } == 0 || info.dli_fname.is_null() {
        return Err("cannot find the extension module's path (dladdr)".into());
    }
    // SAFETY: dladdr set `dli_fname` to a NUL-terminated path owned by the
    // dynamic loader, valid while the module stays loaded (for ever).
    let path = unsafe { CStr::from_ptr(info.dli_fname) };
    Ok(OsString::from_vec(path.to_bytes().to_vec()))
}

fn empty_dl_info() -> libc::Dl_info {
    libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    }
}
