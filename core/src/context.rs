//! `Context`: one V8 isolate with one JS global context, and its limits.

use std::sync::Arc;
use std::time::Duration;

use crate::function::{Function, FunctionOwner};
use crate::local::{IsolateLimits, LocalIsolate, StopTarget};
use crate::process::{self, IsolationReport, Remote};
use crate::wire::{self, Reader};
use crate::{ffi, Error, Value};

/// Where a [`Context`]'s V8 runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// In this process: the fastest, but a V8 fatal error ends the host,
    /// a builtin that ignores termination overruns the timeout, and memory
    /// outside V8's heap accounting is bounded only by the heap limit's
    /// bookkeeping.
    #[default]
    InProcess,
    /// In a sandboxed worker process of its own (seccomp allow-list, rlimits,
    /// namespaces where permitted; see [`IsolationReport`]). A crash is
    /// [`Error::Crashed`], a worker that overruns its timeout is killed, and
    /// the host never starts V8 itself.
    Process,
}

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
    /// Where V8 runs: in this process (default) or a sandboxed worker.
    pub isolation: Isolation,
    /// [`Isolation::Process`] only: how long past its timeout (or a
    /// terminate request) a worker may take to answer before the host kills
    /// it. The evaluation then gives [`Error::Timeout`] (or
    /// [`Error::Terminated`]) and the context is lost.
    pub kill_grace: Duration,
}

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            timeout: None,
            heap_limit: None,
            max_result_bytes: 64 << 20,
            max_depth: 1000,
            isolation: Isolation::InProcess,
            kill_grace: Duration::from_millis(200),
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

/// Stops the running evaluation of one [`Context`] from any thread.
///
/// `terminate()` has no effect when nothing is running (a late call cannot
/// kill the next evaluation) or after the context is dropped.
///
/// For a process-isolated context, a worker that does not stop within
/// [`ContextOptions::kill_grace`] is killed (the context is then lost).
#[derive(Clone)]
pub struct TerminateHandle {
    target: StopHandle,
}

#[derive(Clone)]
enum StopHandle {
    Local(Arc<StopTarget>),
    Remote(Arc<process::Shared>),
}

impl TerminateHandle {
    /// Makes the running `eval`/`call` return [`Error::Terminated`].
    pub fn terminate(&self) {
        match &self.target {
            StopHandle::Local(target) => target.stop(ffi::STOP_TERMINATE),
            StopHandle::Remote(shared) => shared.terminate(),
        }
    }
}

/// One evaluation request, as both backends run it.
pub(crate) enum Job<'a> {
    Eval(&'a str),
    /// A global function's (dotted) name and the encoded arguments.
    Call(&'a str, &'a [u8]),
    /// A function handle's id and the encoded arguments.
    CallFunction(u32, &'a [u8]),
}

enum Backend {
    InProcess(LocalIsolate),
    // Boxed: the in-process variant is a pointer or two.
    Process(Box<Remote>),
}

impl std::fmt::Debug for TerminateHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminateHandle").finish_non_exhaustive()
    }
}

/// A JavaScript global context in its own V8 isolate, in this process or
/// in a sandboxed worker process ([`ContextOptions::isolation`]).
///
/// `Context` is `Send`: it may move between threads, and many contexts run
/// in parallel on different threads. Hostile code is bounded by the
/// [`ContextOptions`]; every failure is a typed [`Error`] and the context
/// stays usable afterwards, except after [`Error::Crashed`] (and a worker
/// killed at its hard deadline), which lose a process context.
pub struct Context {
    backend: Backend,
    options: ContextOptions,
    functions: FunctionOwner,
}

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
        // After the checks: bad options never start V8 or a worker.
        let backend = match options.isolation {
            Isolation::InProcess => Backend::InProcess(LocalIsolate::new(&IsolateLimits {
                heap_limit: options.heap_limit.unwrap_or(0),
                max_result_bytes: options.max_result_bytes,
                max_depth: options.max_depth,
            })?),
            Isolation::Process => Backend::Process(Box::new(Remote::new(&options)?)),
        };
        Ok(Context::around(backend, options))
    }

    fn around(backend: Backend, options: ContextOptions) -> Context {
        static NEXT_CONTEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Context {
            backend,
            options,
            functions: FunctionOwner {
                context_id: NEXT_CONTEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                released: Arc::default(),
            },
        }
    }

    /// A process-isolated context on a worker started with extra environment
    /// variables (the sandbox tests' fence, feature `sandbox-probes`).
    #[cfg(feature = "sandbox-probes")]
    pub(crate) fn with_worker_env(
        options: ContextOptions,
        env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Context, Error> {
        let remote = Remote::with_env(&options, env)?;
        Ok(Context::around(Backend::Process(Box::new(remote)), options))
    }

    /// `Context::new(ContextOptions::default())`.
    pub fn default_new() -> Result<Context, Error> {
        Context::new(ContextOptions::default())
    }

    pub fn options(&self) -> &ContextOptions {
        &self.options
    }

    /// Which sandbox layers the worker of a process-isolated context has in
    /// effect; `None` for an in-process context.
    pub fn isolation_report(&self) -> Option<&IsolationReport> {
        match &self.backend {
            Backend::InProcess(_) => None,
            Backend::Process(remote) => Some(remote.report()),
        }
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
        self.run(&Job::Eval(source))
    }

    /// Calls the global function `name` (a dotted path such as
    /// `"JSON.stringify"` resolves property by property, with the holder as
    /// `this`) and copies its result.
    pub fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, Error> {
        let encoded =
            wire::encode_args(args, self.options.max_depth, self.options.max_result_bytes)?;
        self.run(&Job::Call(name, &encoded))
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
        self.run(&Job::CallFunction(handle.id, &encoded))
    }

    /// Runs a job on the backend under this context's timeout (functions
    /// whose last `Function` was dropped are released first) and decodes
    /// the output.
    fn run(&mut self, job: &Job<'_>) -> Result<Value, Error> {
        let released = self.functions.released.take();
        let timeout = self.options.timeout;
        match &mut self.backend {
            Backend::InProcess(isolate) => {
                let (status, bytes) = isolate.run(job, &released, timeout)?;
                decode_output(status, bytes, &self.functions, &self.options)
            }
            Backend::Process(remote) => {
                let body = remote.run(job, &released, timeout)?;
                match process::decode_reply(&body, &self.functions, &self.options) {
                    Err(e @ Error::Crashed { .. }) => Err(remote.reject_reply(e)),
                    decoded => decoded,
                }
            }
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
        let (soft, hard) = (soft.unwrap_or(0), hard.unwrap_or(0));
        match &mut self.backend {
            Backend::InProcess(isolate) => isolate.set_memory_limits(soft, hard),
            Backend::Process(remote) => remote.set_memory_limits(soft, hard),
        }
    }

    /// Whether the soft and the hard memory limit (in that order) were
    /// exceeded since they were set.
    pub fn memory_limits_reached(&self) -> (bool, bool) {
        match &self.backend {
            Backend::InProcess(isolate) => isolate.memory_limits_reached(),
            Backend::Process(remote) => remote.memory_limits_reached(),
        }
    }

    /// Current heap figures (all zero in a process forked after V8 started,
    /// and for a process context whose worker is gone).
    pub fn heap_stats(&self) -> HeapStats {
        match &self.backend {
            Backend::InProcess(isolate) => isolate.heap_stats(),
            Backend::Process(remote) => remote.heap_stats(),
        }
    }

    /// Runs a full garbage collection (nothing in a process forked after V8
    /// started).
    pub fn low_memory_notification(&mut self) {
        match &mut self.backend {
            Backend::InProcess(isolate) => isolate.low_memory_notification(),
            Backend::Process(remote) => remote.low_memory_notification(),
        }
    }

    /// The shim's isolate, for the test-only entry points of `crate::testing`
    /// (in-process contexts only).
    #[cfg(feature = "bench-floor")]
    pub(crate) fn raw_isolate(&mut self) -> Option<*mut ffi::RawIsolate> {
        match &mut self.backend {
            Backend::InProcess(isolate) => Some(isolate.raw()),
            Backend::Process(_) => None,
        }
    }

    /// An in-process evaluation's reply frame as a worker would send it
    /// (seeds for the `worker_reply` fuzz target).
    #[cfg(feature = "reply-decoder")]
    pub(crate) fn reply_frame(&mut self, source: &str) -> Option<Vec<u8>> {
        let Backend::InProcess(isolate) = &mut self.backend else {
            return None;
        };
        let (status, bytes) = isolate
            .run(&Job::Eval(source), &[], self.options.timeout)
            .ok()?;
        Some(process::reply_frame(status, bytes))
    }

    /// The worker of a process context, for the sandbox probes.
    #[cfg(feature = "sandbox-probes")]
    pub(crate) fn remote(&self) -> Option<&Remote> {
        match &self.backend {
            Backend::InProcess(_) => None,
            Backend::Process(remote) => Some(remote),
        }
    }

    /// A handle that stops this context's running evaluation from any thread.
    pub fn terminate_handle(&self) -> TerminateHandle {
        TerminateHandle {
            target: match &self.backend {
                Backend::InProcess(isolate) => StopHandle::Local(isolate.stop_target()),
                Backend::Process(remote) => StopHandle::Remote(remote.shared()),
            },
        }
    }
}

/// Turns a backend's status and output bytes into the result.
pub(crate) fn decode_output(
    status: std::os::raw::c_int,
    bytes: &[u8],
    functions: &FunctionOwner,
    options: &ContextOptions,
) -> Result<Value, Error> {
    let host_bytes = options
        .max_result_bytes
        .saturating_mul(HOST_BYTES_PER_RESULT_BYTE);
    let mut r = Reader::with_owner(bytes, functions, host_bytes, options.max_depth);
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

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
