//! Host functions: Rust closures JavaScript can call
//! (`Context::host_function`, `Context::expose`). The shim calls
//! [`trampoline`] on the evaluating thread with the arguments encoded like a
//! result; the closure's value goes back encoded like call arguments.

use std::ffi::c_void;
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use crate::context::HOST_BYTES_PER_RESULT_BYTE;
use crate::function::FunctionOwner;
use crate::module::ModuleLoader;
use crate::wire::{self, Reader};
use crate::{ffi, Value};

/// A host function: takes the JavaScript arguments, returns the value the
/// call evaluates to, or a message JavaScript sees as a thrown `Error`.
pub type HostFunction = dyn Fn(Vec<Value>) -> Result<Value, String> + Send + Sync;

/// The host functions of one context. Boxed by the context, which frees its
/// isolate before this, so the pointer the shim holds stays valid.
pub(crate) struct HostFunctions {
    callbacks: Mutex<Vec<Arc<HostFunction>>>,
    // The last callback's encoded result or message, read by the shim
    // right after the callback returns.
    result: Mutex<Vec<u8>>,
    owner: FunctionOwner,
    max_depth: u32,
    max_bytes: usize,
    // Called for the shim's callback id `ffi::MODULE_LOADER`.
    loader: Option<ModuleLoader>,
}

/// Host functions one context may create at most.
const MAX_HOST_FUNCTIONS: usize = 1 << 16;

impl HostFunctions {
    pub(crate) fn new(
        owner: FunctionOwner,
        max_depth: u32,
        max_bytes: usize,
        loader: Option<ModuleLoader>,
    ) -> Self {
        HostFunctions {
            callbacks: Mutex::default(),
            result: Mutex::default(),
            owner,
            max_depth,
            max_bytes,
            loader,
        }
    }

    /// Registers `callback`; its id for the shim.
    pub(crate) fn add(&self, callback: Arc<HostFunction>) -> Result<u32, crate::Error> {
        let mut callbacks = self.callbacks.lock().unwrap_or_else(|e| e.into_inner());
        if callbacks.len() >= MAX_HOST_FUNCTIONS {
            return Err(crate::Error::InvalidInput(format!(
                "a context can have at most {MAX_HOST_FUNCTIONS} host functions"
            )));
        }
        callbacks.push(callback);
        Ok((callbacks.len() - 1) as u32)
    }

    /// Runs host function `id` on encoded `args`: its encoded result, or
    /// the message JavaScript's Error gets (also for a panic, which must
    /// not unwind into C++ or through the worker protocol).
    pub(crate) fn call(&self, id: u32, args: &[u8]) -> Result<Vec<u8>, String> {
        catch_unwind(AssertUnwindSafe(|| self.call_unguarded(id, args)))
            .unwrap_or_else(|_| Err("the host function panicked".into()))
    }

    fn call_unguarded(&self, id: u32, args: &[u8]) -> Result<Vec<u8>, String> {
        if id == ffi::MODULE_LOADER {
            return self.load_module(args);
        }
        let callback = self
            .callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id as usize)
            .cloned()
            .ok_or_else(|| format!("no host function {id}"))?;
        let host_bytes = self.max_bytes.saturating_mul(HOST_BYTES_PER_RESULT_BYTE);
        let mut reader = Reader::with_owner(args, &self.owner, host_bytes, self.max_depth);
        let args = match reader.value() {
            Ok(Value::Array(args)) => args,
            Ok(_) => return Err("host function arguments are not an array".into()),
            Err(e) => return Err(e.to_string()),
        };
        let value = callback(args)?;
        self.encode_result(&value)
    }

    /// The module loader's answer to the shim's `[resolved name, referrer]`: the
    /// module's source, within `max_result_bytes`.
    fn load_module(&self, args: &[u8]) -> Result<Vec<u8>, String> {
        let loader = self.loader.as_ref().ok_or_else(no_module_loader)?;
        let host_bytes = self.max_bytes.saturating_mul(HOST_BYTES_PER_RESULT_BYTE);
        let mut reader = Reader::with_owner(args, &self.owner, host_bytes, 2);
        let (name, referrer) = match reader.value() {
            Ok(Value::Array(args)) => match <[Value; 2]>::try_from(args) {
                Ok([Value::String(name), Value::String(referrer)]) => (name, referrer),
                _ => return Err("malformed module loader arguments".into()),
            },
            Ok(_) => return Err("malformed module loader arguments".into()),
            Err(e) => return Err(e.to_string()),
        };
        let source = loader.load(&name, &referrer)?;
        self.encode_result(&Value::String(source)).map_err(|e| {
            format!("the source of module '{name}' cannot be passed to JavaScript: {e}")
        })
    }

    fn encode_result(&self, value: &Value) -> Result<Vec<u8>, String> {
        wire::encode_args(
            std::slice::from_ref(value),
            self.max_depth,
            self.max_bytes,
            self.owner.context_id,
        )
        .map_err(|e| e.to_string())
    }
}

/// What JavaScript is told when it imports in a context without a loader.
pub(crate) fn no_module_loader() -> String {
    "this context has no module loader (ContextOptions::module_loader)".into()
}

/// The shim's `v8cage_host_call`.
///
/// # Safety
/// `data` is the `HostFunctions` the context registered, alive while its
/// isolate is; `args` is valid for `args_len` bytes; `result` is writable.
pub(crate) unsafe extern "C" fn trampoline(
    data: *mut c_void,
    callback_id: u32,
    args: *const u8,
    args_len: usize,
    result: *mut ffi::Output,
) -> c_int {
    // SAFETY: the shim passes back the pointer `Context::host_functions`
    // registered (a live, boxed HostFunctions, only read through `&`).
    let host = unsafe { &*(data as *const HostFunctions) };
    // SAFETY: the caller's contract.
    let args = unsafe { shim_bytes(args, args_len) };
    let (status, bytes) = match host.call(callback_id, args) {
        Ok(bytes) => (0, bytes),
        Err(message) => (1, message.into_bytes()),
    };
    let mut buffer = host.result.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the caller's contract; `buffer` is kept until the next call.
    unsafe { answer(&mut buffer, bytes, result) };
    status
}

/// The bytes the shim passes a host callback.
///
/// # Safety
/// `data` is null or valid for `len` bytes for the returned lifetime.
pub(crate) unsafe fn shim_bytes<'a>(data: *const u8, len: usize) -> &'a [u8] {
    if data.is_null() {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(data, len) }
    }
}

/// Stores a host callback's answer in `buffer` and points the shim's
/// `result` at it.
///
/// # Safety
/// `result` is writable, and `buffer` is not changed until the shim has
/// read the answer (the next callback).
pub(crate) unsafe fn answer(buffer: &mut Vec<u8>, bytes: Vec<u8>, result: *mut ffi::Output) {
    *buffer = bytes;
    // SAFETY: the caller's contract.
    unsafe {
        *result = ffi::Output {
            data: buffer.as_ptr(),
            len: buffer.len(),
        };
    }
}
