//! `Context`: one V8 isolate with one JS global context, and its limits.

use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::function::{Function, FunctionOwner};
use crate::wire::{self, Reader};
use crate::{engine, ffi, watchdog, Error, Value};

/// Limits for a [`Context`]. `Default` gives no timeout, V8's default heap,
/// and conversion bounds suited to untrusted results.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextOptions {
    /// Wall-clock bound for each `eval`/`call`, conversion included. `None`: no limit.
    pub timeout: Option<Duration>,
    /// JS heap size bound in bytes, from [`MIN_HEAP_LIMIT`] to
    /// [`MAX_HEAP_LIMIT`]; also bounds `ArrayBuffer` memory. `None`: V8's
    /// default heap size.
    pub heap_limit: Option<usize>,
    /// Bound on the encoded size of one converted result and of one call's
    /// arguments (bytes, < 4 GiB). The result's `Value` tree in the host may
    /// take [`HOST_BYTES_PER_RESULT_BYTE`] times as much.
    pub max_result_bytes: usize,
    /// Bound on nesting of arrays/objects, both directions.
    pub max_depth: u32,
}

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            timeout: None,
            heap_limit: None,
            max_result_bytes: 64 << 20,
            max_depth: 1000,
        }
    }
}

/// How much memory a result's `Value` tree may take in the host, per byte of
/// [`ContextOptions::max_result_bytes`]: a number is 9 bytes on the wire and
/// a `Value` of 32 bytes, so the largest array of numbers fits; 60 million
/// array holes (1 byte each on the wire) do not.
pub const HOST_BYTES_PER_RESULT_BYTE: usize = 4;

/// The smallest [`ContextOptions::heap_limit`]: V8 needs a few MiB for a
/// context before any script runs.
pub const MIN_HEAP_LIMIT: usize = 8 << 20;
/// The largest [`ContextOptions::heap_limit`]: V8's heap sizing arithmetic
/// wraps far above it (`usize::MAX` became a ~50 MB heap and an abort).
pub const MAX_HEAP_LIMIT: usize = 1 << 40;

/// V8 heap figures in bytes, from `v8::Isolate::GetHeapStatistics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HeapStats {
    /// Bytes of live JS heap objects.
    pub used: usize,
    /// Bytes the JS heap has reserved.
    pub total: usize,
    /// The heap size V8 will not grow past.
    pub limit: usize,
    /// Bytes outside the JS heap: `ArrayBuffer`s and WebAssembly memories.
    /// The heap limit bounds them too.
    pub external: usize,
}

/// The isolate pointer as seen by other threads (watchdog, terminate
/// handles). `None` once the context is dropped.
pub(crate) struct StopTarget {
    isolate: Mutex<Option<IsolatePtr>>,
}

struct IsolatePtr(NonNull<ffi::RawIsolate>);

// SAFETY: the pointer is only used for `v8cage_request_stop`, which the shim
// makes thread-safe (it takes the isolate's stop mutex and calls
// `Isolate::TerminateExecution`, which V8 allows from any thread); the
// surrounding Mutex keeps the isolate alive for the duration of that call.
unsafe impl Send for IsolatePtr {}

impl StopTarget {
    pub(crate) fn stop(&self, reason: std::os::raw::c_int) {
        if engine::forked_after_start() {
            return;
        }
        let guard = self.isolate.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ptr) = guard.as_ref() {
            // SAFETY: the isolate is alive: Context::drop takes it out of this
            // mutex before freeing it, and we hold the mutex.
            unsafe { ffi::v8cage_request_stop(ptr.0.as_ptr(), reason) };
        }
    }
}

/// The span in which stop requests (timeout, terminate) apply to one
/// `eval`/`call`. Opened before the deadline is armed, so a deadline that
/// passes before the script starts still stops it; closed when dropped, after
/// the deadline is disarmed (the shim also closes it when the evaluation ends).
struct StopWindow(NonNull<ffi::RawIsolate>);

impl StopWindow {
    fn open(raw: NonNull<ffi::RawIsolate>) -> StopWindow {
        // SAFETY: `raw` is the live isolate of the `Context` being borrowed
        // mutably by the caller; opening the window only takes its stop mutex.
        unsafe { ffi::v8cage_open_stop_window(raw.as_ptr()) };
        StopWindow(raw)
    }
}

impl Drop for StopWindow {
    fn drop(&mut self) {
        // SAFETY: the window lives inside one `eval`/`call` of the Context
        // that owns the isolate, so the isolate outlives it.
        unsafe { ffi::v8cage_close_stop_window(self.0.as_ptr()) };
    }
}

/// Stops the running evaluation of one [`Context`] from any thread.
///
/// `terminate()` has no effect when nothing is running (a late call cannot
/// kill the next evaluation) or after the context is dropped.
#[derive(Clone)]
pub struct TerminateHandle {
    target: Arc<StopTarget>,
}

impl TerminateHandle {
    /// Makes the running `eval`/`call` return [`Error::Terminated`].
    pub fn terminate(&self) {
        self.target.stop(ffi::STOP_TERMINATE);
    }
}

impl std::fmt::Debug for TerminateHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminateHandle").finish_non_exhaustive()
    }
}

/// A JavaScript global context in its own V8 isolate.
///
/// `Context` is `Send`: it may move between threads, and many contexts run
/// in parallel on different threads. Hostile code is bounded by the
/// [`ContextOptions`]; every failure is a typed [`Error`] and the context
/// stays usable afterwards.
pub struct Context {
    raw: NonNull<ffi::RawIsolate>,
    target: Arc<StopTarget>,
    options: ContextOptions,
    functions: FunctionOwner,
}

// SAFETY: every shim entry point takes a `v8::Locker` and sets the stack
// limit from the calling thread, so the isolate may be used from whichever
// thread owns the Context. `Context` is not `Sync`: `&mut self` serialises use.
unsafe impl Send for Context {}

impl Context {
    /// Creates a context with the given limits.
    pub fn new(options: ContextOptions) -> Result<Context, Error> {
        if let Some(limit) = options.heap_limit {
            if !(MIN_HEAP_LIMIT..=MAX_HEAP_LIMIT).contains(&limit) {
                return Err(Error::InvalidInput(format!(
                    "heap_limit must be from {MIN_HEAP_LIMIT} to {MAX_HEAP_LIMIT} bytes, not {limit}"
                )));
            }
        }
        if options.max_result_bytes >= u32::MAX as usize {
            return Err(Error::InvalidInput(
                "max_result_bytes must be below 4 GiB".into(),
            ));
        }
        if options.max_depth == 0 {
            return Err(Error::InvalidInput("max_depth must be at least 1".into()));
        }
        // After the checks: bad options never start V8.
        engine::ensure_initialised()?;
        let limits = ffi::Limits {
            heap_limit: options.heap_limit.unwrap_or(0),
            max_result_bytes: options.max_result_bytes,
            max_depth: options.max_depth,
        };
        // SAFETY: `limits` is a valid pointer for the duration of the call; the
        // shim copies it.
        let raw = unsafe { ffi::v8cage_isolate_new(&limits) };
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::Engine("V8 could not create an isolate".into()))?;
        let target = Arc::new(StopTarget {
            isolate: Mutex::new(Some(IsolatePtr(raw))),
        });
        static NEXT_CONTEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Context {
            raw,
            target,
            options,
            functions: FunctionOwner {
                context_id: NEXT_CONTEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                released: Arc::default(),
            },
        })
    }

    /// `Context::new(ContextOptions::default())`.
    pub fn default_new() -> Result<Context, Error> {
        Context::new(ContextOptions::default())
    }

    pub fn options(&self) -> &ContextOptions {
        &self.options
    }

    /// Changes the timeout for later `eval`/`call`s.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.options.timeout = timeout;
    }

    /// Evaluates `source` as a classic script and copies its completion value.
    ///
    /// Promise jobs the script queues run before `eval` returns, under the
    /// same timeout. Jobs still queued when an evaluation fails or is
    /// stopped are dropped, so they never run during a later one.
    pub fn eval(&mut self, source: &str) -> Result<Value, Error> {
        self.evaluate(|iso, out| {
            // SAFETY: `iso` is the live isolate `evaluate` lends exclusively;
            // `source` is valid for `len` bytes during the call.
            unsafe { ffi::v8cage_eval(iso, source.as_ptr().cast(), source.len(), out) }
        })
    }

    /// Runs one shim evaluation entry point under this context's limits:
    /// released functions go first, then the stop window opens and the
    /// timeout is armed (in that order, so an early deadline still counts),
    /// and the shim's output becomes the result.
    fn evaluate(
        &mut self,
        entry: impl FnOnce(*mut ffi::RawIsolate, *mut ffi::Output) -> std::os::raw::c_int,
    ) -> Result<Value, Error> {
        engine::check_not_forked()?;
        self.release_dropped_functions();
        let _window = StopWindow::open(self.raw);
        let _armed = self.options.timeout.map(|t| watchdog::arm(&self.target, t));
        let mut out = ffi::Output::empty();
        let status = entry(self.raw.as_ptr(), &mut out);
        self.finish(status, &out)
    }

    /// Calls the global function `name` (a dotted path such as
    /// `"JSON.stringify"` resolves property by property, with the holder as
    /// `this`) and copies its result.
    pub fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, Error> {
        let encoded =
            wire::encode_args(args, self.options.max_depth, self.options.max_result_bytes)?;
        self.evaluate(|iso, out| {
            // SAFETY: as in `eval`; `name` and `encoded` are valid for their lengths.
            unsafe {
                ffi::v8cage_call(
                    iso,
                    name.as_ptr().cast(),
                    name.len(),
                    encoded.as_ptr(),
                    encoded.len(),
                    out,
                )
            }
        })
    }

    /// Calls a function a result of this context handed out, with `this`
    /// undefined, under the same limits as [`Context::call`].
    ///
    /// [`Error::InvalidInput`] if the function came from another context or
    /// has no handle (see [`Function::is_callable`]).
    pub fn call_function(&mut self, function: &Function, args: &[Value]) -> Result<Value, Error> {
        let Some(handle) = function.handle() else {
            return Err(Error::InvalidInput(format!(
                "the function {:?} has no handle to call it by",
                function.name()
            )));
        };
        if handle.context_id != self.functions.context_id {
            return Err(Error::InvalidInput(format!(
                "the function {:?} belongs to another context",
                function.name()
            )));
        }
        let encoded =
            wire::encode_args(args, self.options.max_depth, self.options.max_result_bytes)?;
        let id = handle.id;
        self.evaluate(|iso, out| {
            // SAFETY: as in `call`; `encoded` is valid for its length.
            unsafe { ffi::v8cage_call_function(iso, id, encoded.as_ptr(), encoded.len(), out) }
        })
    }

    /// Lets V8 collect the functions whose last `Function` value was dropped.
    fn release_dropped_functions(&mut self) {
        let ids = self.functions.released.take();
        if !ids.is_empty() {
            // SAFETY: `raw` is live and exclusively ours (`&mut self`); `ids`
            // is valid for its length during the call.
            unsafe { ffi::v8cage_release_functions(self.raw.as_ptr(), ids.as_ptr(), ids.len()) };
        }
    }

    /// Memory limits below the heap limit, checked after every garbage
    /// collection: once live JS data exceeds `hard` the running evaluation
    /// stops with [`Error::OutOfMemory`]; exceeding `soft` is only recorded
    /// (see [`Context::memory_limits_reached`]). `None` removes a limit;
    /// setting limits clears both records. Unlike
    /// [`ContextOptions::heap_limit`] these can change at any time, but a
    /// single huge allocation can pass `hard` before the next collection
    /// notices.
    pub fn set_memory_limits(&mut self, soft: Option<usize>, hard: Option<usize>) {
        // SAFETY: `raw` is live; the shim stores the limits in atomics.
        unsafe {
            ffi::v8cage_set_memory_limits(self.raw.as_ptr(), soft.unwrap_or(0), hard.unwrap_or(0))
        };
    }

    /// Whether the soft and the hard memory limit (in that order) were
    /// exceeded since they were set.
    pub fn memory_limits_reached(&self) -> (bool, bool) {
        let (mut soft, mut hard) = (0, 0);
        // SAFETY: `raw` is live; both out-pointers are valid locals.
        unsafe { ffi::v8cage_memory_limits_reached(self.raw.as_ptr(), &mut soft, &mut hard) };
        (soft != 0, hard != 0)
    }

    /// Current heap figures (all zero in a process forked after V8 started).
    pub fn heap_stats(&self) -> HeapStats {
        if engine::forked_after_start() {
            return HeapStats::default();
        }
        let mut raw = ffi::RawHeapStats::default();
        // SAFETY: `raw` is a live isolate; the shim locks it; `raw` stats is a valid out-pointer.
        unsafe { ffi::v8cage_heap_stats_get(self.raw.as_ptr(), &mut raw) };
        HeapStats {
            used: raw.used,
            total: raw.total,
            limit: raw.limit,
            external: raw.external,
        }
    }

    /// Runs a full garbage collection (nothing in a process forked after V8
    /// started).
    pub fn low_memory_notification(&mut self) {
        if engine::forked_after_start() {
            return;
        }
        // SAFETY: `raw` is a live isolate, used exclusively through `&mut self`.
        unsafe { ffi::v8cage_low_memory_notification(self.raw.as_ptr()) };
    }

    /// The shim's isolate, for the test-only entry points of `crate::testing`.
    #[cfg(feature = "bench-floor")]
    pub(crate) fn raw_isolate(&mut self) -> *mut ffi::RawIsolate {
        self.raw.as_ptr()
    }

    /// A handle that stops this context's running evaluation from any thread.
    pub fn terminate_handle(&self) -> TerminateHandle {
        TerminateHandle {
            target: Arc::clone(&self.target),
        }
    }

    fn finish(&self, status: std::os::raw::c_int, out: &ffi::Output) -> Result<Value, Error> {
        let bytes: &[u8] = if out.data.is_null() {
            &[]
        } else {
            // SAFETY: the shim points `out` at its own buffer, valid until the
            // next call on this isolate, which cannot happen while `&self` lives.
            unsafe { std::slice::from_raw_parts(out.data, out.len) }
        };
        let host_bytes = self
            .options
            .max_result_bytes
            .saturating_mul(HOST_BYTES_PER_RESULT_BYTE);
        let mut r = Reader::with_owner(bytes, &self.functions, host_bytes);
        match status {
            ffi::STATUS_OK => r.value(),
            ffi::STATUS_SYNTAX => {
                let message = r.string()?;
                let line = r.u32()?;
                let column = r.u32()?;
                Err(Error::Syntax {
                    message,
                    line,
                    column,
                })
            }
            ffi::STATUS_EXCEPTION => {
                let name = r.string()?;
                let message = r.string()?;
                let stack = match r.value()? {
                    Value::String(s) => Some(s),
                    _ => None,
                };
                Err(Error::Exception {
                    name,
                    message,
                    stack,
                })
            }
            ffi::STATUS_TIMEOUT => Err(Error::Timeout),
            ffi::STATUS_OUT_OF_MEMORY => Err(Error::OutOfMemory),
            ffi::STATUS_TERMINATED => Err(Error::Terminated),
            ffi::STATUS_CONVERSION => Err(Error::Conversion(r.string()?)),
            ffi::STATUS_INVALID => Err(Error::InvalidInput(r.string()?)),
            _ => Err(Error::Engine(
                r.string()
                    .unwrap_or_else(|_| format!("shim status {status}")),
            )),
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // After fork() the isolate is the parent's: freeing it would touch
        // V8 (and locks held by threads that no longer exist). Leak it.
        if engine::forked_after_start() {
            return;
        }
        // Detach first: once this returns no stop request can reach the isolate.
        self.target
            .isolate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // SAFETY: `raw` is owned by `self`, detached from every other thread,
        // and never used again.
        unsafe { ffi::v8cage_isolate_free(self.raw.as_ptr()) };
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
