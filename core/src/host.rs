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
}

/// Host functions one context may create at most.
const MAX_HOST_FUNCTIONS: usize = 1 << 16;

impl HostFunctions {
    pub(crate) fn new(owner: FunctionOwner, max_depth: u32, max_bytes: usize) -> Self {
        HostFunctions {
            callbacks: Mutex::default(),
            result: Mutex::default(),
            owner,
            max_depth,
            max_bytes,
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
        wire::encode_args(
            std::slice::from_ref(&value),
            self.max_depth,
            self.max_bytes,
            self.owner.context_id,
        )
        .map_err(|e| e.to_string())
    }
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
    let args: &[u8] = if args.is_null() {
        &[]
    } else {
        // SAFETY: the shim's encoded arguments, valid during this call.
        unsafe { std::slice::from_raw_parts(args, args_len) }
    };
    let outcome = host.call(callback_id, args);
    let mut buffer = host.result.lock().unwrap_or_else(|e| e.into_inner());
    let status = match outcome {
        Ok(bytes) => {
            *buffer = bytes;
            0
        }
        Err(message) => {
            *buffer = message.into_bytes();
            1
        }
    };
    // SAFETY: `result` is the shim's out-parameter; the buffer stays put
    // until the next callback of this context replaces it.
    unsafe {
        *result = ffi::Output {
            data: buffer.as_ptr(),
            len: buffer.len(),
        };
    }
    status
}
