//! `Context`: one V8 isolate with one JS global context, and its limits.

use std::sync::Arc;
use std::time::Duration;

use crate::function::{Function, FunctionOwner};
use crate::handle::PromiseState;
use crate::host::{self, HostFunction, HostFunctions};
use crate::local::{IsolateLimits, LocalIsolate, StopTarget};
use crate::module::ModuleLoader;
use crate::process::{self, IsolationReport, Remote};
use crate::snapshot::Snapshot;
use crate::wire::{self, Event, Reader};
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
    /// CPU-time bound for each `eval`/`call`: the CPU time of the thread
    /// running it (in [`Isolation::Process`], the worker's), ending it with
    /// [`Error::CpuTimeLimit`]; the context stays usable. Time spent
    /// waiting (a pending promise, `Atomics.wait`, a loaded machine's
    /// queue) does not count: bound that with `timeout`. `None`: no limit.
    pub cpu_time_limit: Option<Duration>,
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
    /// Every object in a result is a [`Handle`](crate::Handle) (kept in the
    /// context, read and written through `get`/`set`/`keys`...), not a
    /// copy, and a settled promise stays a promise; in-process, so are
    /// ArrayBuffers (their memory: [`Context::buffer_memory`]). Off: plain objects and
    /// arrays are copied, a settled promise gives its outcome, and only
    /// values a copy would misrepresent (promises, symbols, maps, sets,
    /// errors, regexps, weak collections) are handles.
    pub object_handles: bool,
    /// `setTimeout`/`clearTimeout` exist. Due timers and V8's own tasks
    /// (e.g. a finished `WebAssembly.instantiate`) run whenever the context
    /// is entered (any eval, call or handle operation, `run_pending`,
    /// `await_promise`), inside that operation's timeout; never in the
    /// background.
    pub event_loop: bool,
    /// Fetches the source of the ES modules that `import` and `import()`
    /// name (see [`ModuleLoader`]). `None`: an import throws in JavaScript.
    pub module_loader: Option<ModuleLoader>,
    /// Starts the context from this snapshot's state instead of V8's own
    /// ([`Snapshot::create`]); its V8 flags must be the context's
    /// ([`Error::InvalidInput`] otherwise).
    pub snapshot: Option<Snapshot>,
    /// [`Isolation::Process`] only: V8 flags for this context's worker on
    /// top of [`set_flags`](crate::set_flags)' (e.g. `"--jitless"`), refused
    /// as `set_flags` refuses them. Such a context gets a worker of its own,
    /// never the pool's prestarted spare.
    pub v8_flags: String,
}

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            timeout: None,
            cpu_time_limit: None,
            heap_limit: None,
            max_result_bytes: 64 << 20,
            max_depth: 1000,
            isolation: Isolation::InProcess,
            kill_grace: Duration::from_millis(200),
            object_handles: false,
            event_loop: false,
            module_loader: None,
            snapshot: None,
            v8_flags: String::new(),
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
    /// A `v8cage_handle_op`: operation, handle id (0: the global), arguments.
    Handle(std::os::raw::c_int, u32, &'a [u8]),
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
    // After `backend`: the isolate, which calls into these, is freed first.
    host: Option<Box<HostFunctions>>,
}

impl Context {
    /// Creates a context with the given limits.
    pub fn new(options: ContextOptions) -> Result<Context, Error> {
        if let Some(limit) = options.heap_limit {
            let max = crate::engine::max_heap_limit();
            if !(MIN_HEAP_LIMIT..=max).contains(&limit) {
                return Err(Error::InvalidInput(format!(
                    "heap_limit must be from {MIN_HEAP_LIMIT} to {max} bytes (the most this V8 holds), not {limit}"
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
        if !options.v8_flags.trim().is_empty() {
            if options.isolation != Isolation::Process {
                return Err(Error::InvalidInput(
                    "v8_flags needs Isolation::Process: V8 reads flags once per process".into(),
                ));
            }
            crate::engine::check_flags(&options.v8_flags)?;
        }
        if let Some(snapshot) = &options.snapshot {
            snapshot.check_usable(&options)?;
        }
        // After the checks: bad options never start V8 or a worker.
        let limits = isolate_limits(&options);
        let backend = match options.isolation {
            Isolation::InProcess => {
                let mut isolate = crate::spare::isolate(&limits, true)?;
                isolate.set_cpu_time_limit(options.cpu_time_limit);
                Backend::InProcess(isolate)
            }
            Isolation::Process => Backend::Process(Box::new(Remote::new(&options, &limits)?)),
        };
        let mut context = Context::around(backend, options);
        if context.options.module_loader.is_some() {
            context.host_functions()?;
        }
        Ok(context)
    }

    /// A context in a worker's isolate made by V8's snapshot creator, for
    /// [`Snapshot::create_with`]: evaluate the setup, then
    /// [`Context::take_snapshot`].
    pub(crate) fn snapshot_creator(options: ContextOptions) -> Result<Context, Error> {
        let mut limits = isolate_limits(&options);
        limits.options |= ffi::OPTION_SNAPSHOT_CREATOR;
        let remote = Remote::new(&options, &limits)?;
        Ok(Context::around(Backend::Process(Box::new(remote)), options))
    }

    /// The snapshot blob of a [`Context::snapshot_creator`] context; the
    /// context is done afterwards.
    pub(crate) fn take_snapshot(&mut self) -> Result<Vec<u8>, Error> {
        match &mut self.backend {
            Backend::InProcess(isolate) => isolate.take_snapshot(),
            Backend::Process(remote) => remote.take_snapshot(),
        }
    }

    fn around(backend: Backend, options: ContextOptions) -> Context {
        static NEXT_CONTEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let local_memory = matches!(backend, Backend::InProcess(_));
        Context {
            backend,
            options,
            functions: FunctionOwner {
                context_id: NEXT_CONTEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                released: Arc::default(),
                local_memory,
            },
            host: None,
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

    /// The most memory the worker of a process-isolated context has had
    /// resident (its RSS high-water mark) in bytes, also after the worker
    /// was lost; `None` for an in-process context.
    pub fn worker_peak_resident(&self) -> Option<u64> {
        match &self.backend {
            Backend::InProcess(_) => None,
            Backend::Process(remote) => remote.peak_resident(),
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
        let encoded = self.encode(args)?;
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
        let encoded = self.encode(args)?;
        self.run(&Job::CallFunction(handle.id, &encoded))
    }

    /// `args` in the wire encoding, within this context's limits.
    fn encode(&self, args: &[Value]) -> Result<Vec<u8>, Error> {
        wire::encode_args(
            args,
            self.options.max_depth,
            self.options.max_result_bytes,
            self.functions.context_id,
        )
    }

    /// The handle id of `target` (a [`Value::Function`] or
    /// [`Value::Handle`] of this context).
    pub(crate) fn target_id(&self, target: &Value) -> Result<u32, Error> {
        let retained = match target {
            Value::Function(f) => f.handle(),
            Value::Handle(h) => h.retained(),
            other => {
                return Err(Error::InvalidInput(format!(
                    "{} is not a function or handle",
                    value_kind(other)
                )))
            }
        };
        match retained {
            Some(r) if r.context_id == self.functions.context_id => Ok(r.id),
            Some(_) => Err(Error::InvalidInput(
                "the handle belongs to another context".into(),
            )),
            None => Err(Error::InvalidInput("the value has no handle".into())),
        }
    }

    pub(crate) fn handle_op(
        &mut self,
        op: std::os::raw::c_int,
        id: u32,
        args: &[Value],
    ) -> Result<Value, Error> {
        let encoded = self.encode(args)?;
        self.run(&Job::Handle(op, id, &encoded))
    }

    /// `target[key]`: `target` is a handle or function of this context, or
    /// `None` for the global object. `key` converts as in JavaScript
    /// (`5` and `"5"` are the same key).
    pub fn get(&mut self, target: Option<&Value>, key: &Value) -> Result<Value, Error> {
        let id = target.map_or(Ok(0), |t| self.target_id(t))?;
        self.handle_op(ffi::OP_GET, id, std::slice::from_ref(key))
    }

    /// `target[key] = value` (see [`Context::get`]).
    pub fn set(&mut self, target: Option<&Value>, key: &Value, value: &Value) -> Result<(), Error> {
        let id = target.map_or(Ok(0), |t| self.target_id(t))?;
        self.handle_op(ffi::OP_SET, id, &[key.clone(), value.clone()])
            .map(drop)
    }

    /// `key in target` (see [`Context::get`]).
    pub fn has(&mut self, target: Option<&Value>, key: &Value) -> Result<bool, Error> {
        let id = target.map_or(Ok(0), |t| self.target_id(t))?;
        let found = self.handle_op(ffi::OP_HAS, id, std::slice::from_ref(key))?;
        Ok(found == Value::Bool(true))
    }

    /// `delete target[key]`; false if there was no such own property.
    pub fn delete(&mut self, target: Option<&Value>, key: &Value) -> Result<bool, Error> {
        let id = target.map_or(Ok(0), |t| self.target_id(t))?;
        let deleted = self.handle_op(ffi::OP_DELETE, id, std::slice::from_ref(key))?;
        Ok(deleted == Value::Bool(true))
    }

    /// The enumerable string keys of `target`, inherited ones too (as
    /// `for...in` lists them); array-index keys are numbers.
    pub fn keys(&mut self, target: Option<&Value>) -> Result<Vec<Value>, Error> {
        let id = target.map_or(Ok(0), |t| self.target_id(t))?;
        match self.handle_op(ffi::OP_KEYS, id, &[])? {
            Value::Array(keys) => Ok(keys),
            other => Err(Error::Conversion(format!(
                "keys came back as {}",
                value_kind(&other)
            ))),
        }
    }

    /// Calls `function` (a function or callable handle) with `this`.
    pub fn call_with_this(
        &mut self,
        function: &Value,
        this: &Value,
        args: &[Value],
    ) -> Result<Value, Error> {
        let id = self.target_id(function)?;
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(this.clone());
        all.extend_from_slice(args);
        self.handle_op(ffi::OP_CALL, id, &all)
    }

    /// The state of `promise` after running what is due (see
    /// [`ContextOptions::event_loop`]) and pending promise jobs.
    pub fn promise_state(&mut self, promise: &Value) -> Result<PromiseState, Error> {
        let id = self.target_id(promise)?;
        let Value::Array(mut pair) = self.handle_op(ffi::OP_PROMISE, id, &[])? else {
            return Err(Error::Conversion("malformed promise state".into()));
        };
        let value = pair.pop().unwrap_or(Value::Undefined);
        Ok(match pair.pop() {
            Some(Value::Number(1.0)) => PromiseState::Fulfilled(value),
            Some(Value::Number(2.0)) => PromiseState::Rejected(value),
            _ => PromiseState::Pending,
        })
    }

    /// Runs what is due (timers, V8's tasks, promise jobs) and returns how
    /// long until the next timer, if one is pending.
    pub fn run_pending(&mut self) -> Result<Option<Duration>, Error> {
        match self.handle_op(ffi::OP_RUN_PENDING, 0, &[])? {
            Value::Number(ms) if ms >= 0.0 => Ok(Some(Duration::from_secs_f64(ms / 1000.0))),
            _ => Ok(None),
        }
    }

    /// Waits up to `wait` (`None`: as long as it takes) for `promise` to
    /// settle, running timers as they come due; each look is one context
    /// operation under the context's timeout. `Pending` when the wait ran out.
    pub fn await_promise(
        &mut self,
        promise: &Value,
        wait: Option<Duration>,
    ) -> Result<PromiseState, Error> {
        let mut waiting = PromiseWait::new(wait);
        loop {
            match waiting.look(self, promise)? {
                PromiseLook::Done(state) => return Ok(state),
                PromiseLook::Pause(pause) => std::thread::sleep(pause),
            }
        }
    }

    /// A JavaScript function that calls `callback` (on the evaluating
    /// thread, inside the evaluation's timeout). Its arguments arrive as
    /// results do; what it returns goes back as call arguments do; an
    /// `Err(message)` is thrown in JavaScript as an `Error`. With
    /// [`Isolation::Process`] the worker sends each call over its channel
    /// and the host runs `callback` while it waits for the evaluation.
    pub fn host_function(&mut self, callback: Arc<HostFunction>) -> Result<Value, Error> {
        let id = self.host_functions()?.add(callback)?;
        self.handle_op(ffi::OP_HOST_FUNCTION, id, &[])
    }

    /// Defines the global `name` as a host function calling `callback`.
    pub fn expose(&mut self, name: &str, callback: Arc<HostFunction>) -> Result<(), Error> {
        let function = self.host_function(callback)?;
        self.set(None, &Value::from(name), &function)
    }

    /// The context's host functions, made on first use. In-process the
    /// shim calls them directly; a worker sends their calls over its
    /// channel, answered while the host waits for its reply.
    fn host_functions(&mut self) -> Result<&HostFunctions, Error> {
        if self.host.is_none() {
            let host = Box::new(HostFunctions::new(
                self.functions.clone(),
                self.options.max_depth,
                self.options.max_result_bytes,
                self.options.module_loader.clone(),
            ));
            if let Backend::InProcess(isolate) = &mut self.backend {
                let data = &*host as *const HostFunctions as *mut std::ffi::c_void;
                // SAFETY: `host` is boxed (its address is stable) and stored
                // in `self.host`, which is dropped after `self.backend` (field
                // order), so it outlives the isolate that calls back into it.
                unsafe { isolate.set_host(host::trampoline, data) };
            }
            self.host = Some(host);
        }
        Ok(self.host.as_deref().expect("set above"))
    }

    /// Where the memory of an ArrayBuffer handle is (address, byte length).
    /// It stays allocated, and may be read and written (racing with
    /// JavaScript's own accesses, as a SharedArrayBuffer's do), until the
    /// handle is released: every clone of it dropped and the next operation
    /// on this context begun. Dereferencing the pointer is the caller's
    /// `unsafe` business.
    pub fn buffer_memory(&self, buffer: &Value) -> Result<(*mut u8, usize), Error> {
        self.target_id(buffer)?;
        match buffer {
            Value::Handle(handle) => handle.buffer_memory().ok_or_else(|| {
                Error::InvalidInput("the handle is not an ArrayBuffer of this process".into())
            }),
            _ => Err(Error::InvalidInput(
                "a function is not an ArrayBuffer".into(),
            )),
        }
    }

    /// V8's heap snapshot (the JSON Chrome DevTools load), bounded by
    /// `max_result_bytes`. V8's profiler builds it outside the JS heap, so
    /// the heap limit does not bound that work (process isolation's address
    /// space limit does).
    pub fn heap_snapshot(&mut self) -> Result<String, Error> {
        match self.handle_op(ffi::OP_HEAP_SNAPSHOT, 0, &[])? {
            Value::String(json) => Ok(json),
            other => Err(Error::Conversion(format!(
                "the heap snapshot came back as {}",
                value_kind(&other)
            ))),
        }
    }

    /// Handles (functions, objects...) from results that are still held,
    /// i.e. values the context keeps alive for the embedder.
    pub fn handle_count(&self) -> usize {
        self.functions.released.live()
    }

    /// Runs a job on the backend under this context's timeout (functions
    /// whose last `Function` was dropped are released first) and decodes
    /// the output.
    fn run(&mut self, job: &Job<'_>) -> Result<Value, Error> {
        self.run_with(job, |events| events.value())
    }

    /// Runs `job`; a result goes to `read` as events (errors are decoded here).
    fn run_with<T>(
        &mut self,
        job: &Job<'_>,
        read: impl FnOnce(&mut Events<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let released = self.functions.released.take();
        let timeout = self.options.timeout;
        match &mut self.backend {
            Backend::InProcess(isolate) => {
                let (status, bytes) = isolate.run(job, &released, timeout)?;
                decode_output_with(status, bytes, &self.functions, &self.options, read)
            }
            Backend::Process(remote) => {
                let body = remote.run(job, &released, timeout, self.host.as_deref())?;
                match process::decode_reply_with(&body, &self.functions, &self.options, read) {
                    Err(e @ Error::Crashed { .. }) => Err(remote.reject_reply(e)),
                    decoded => decoded,
                }
            }
        }
    }

    /// [`Context::eval`], handing the result to `read` as a stream of
    /// [`Event`]s instead of building a [`Value`]: for embedders that build
    /// their own representation (the Python binding builds Python objects).
    /// The events obey the same limits as `eval`'s result.
    pub fn eval_with<T>(
        &mut self,
        source: &str,
        read: impl FnOnce(&mut Events<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.run_with(&Job::Eval(source), read)
    }

    /// [`Context::call`], with the result read as in [`Context::eval_with`].
    pub fn call_with<T>(
        &mut self,
        name: &str,
        args: &[Value],
        read: impl FnOnce(&mut Events<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let encoded = self.encode(args)?;
        self.run_with(&Job::Call(name, &encoded), read)
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

    /// Keeps V8's lock and per-thread state for this context on the calling
    /// thread until the returned guard is dropped. Evaluations through the
    /// guard skip setting that state up and freeing it, which V8 10.2
    /// otherwise does every time (about a third of an `eval("1+1")`). The
    /// guard cannot leave the thread; stops (timeouts, [`TerminateHandle`])
    /// work as before. A process-isolated context has nothing to pin: the
    /// guard only borrows it. Should a guard be forgotten (`mem::forget`),
    /// the context stays usable on its thread only: elsewhere it refuses
    /// with [`Error::InvalidInput`], and its isolate is never freed.
    pub fn pin_to_thread(&mut self) -> Result<ThreadPin<'_>, Error> {
        if let Backend::InProcess(isolate) = &mut self.backend {
            isolate.pin()?;
        }
        Ok(ThreadPin {
            ctx: self,
            _not_send: std::marker::PhantomData,
        })
    }
}

/// A [`Context`] pinned to the current thread ([`Context::pin_to_thread`]);
/// use it as the context. Dropping it unpins.
pub struct ThreadPin<'a> {
    ctx: &'a mut Context,
    /// Not `Send`: V8's lock must be released on the thread that took it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl std::ops::Deref for ThreadPin<'_> {
    type Target = Context;
    fn deref(&self) -> &Context {
        self.ctx
    }
}

impl std::ops::DerefMut for ThreadPin<'_> {
    fn deref_mut(&mut self) -> &mut Context {
        self.ctx
    }
}

impl Drop for ThreadPin<'_> {
    fn drop(&mut self) {
        if let Backend::InProcess(isolate) = &mut self.ctx.backend {
            isolate.unpin();
        }
    }
}

/// The events of an encoded value, read with every limit of the context
/// checked (see [`Context::eval_with`]).
pub struct Events<'a> {
    reader: Reader<'a>,
}

impl<'a> Events<'a> {
    /// The next event. After the value's last one, an error.
    #[allow(clippy::should_implement_trait)] // fallible: not an Iterator
    pub fn next(&mut self) -> Result<Event<'a>, Error> {
        self.reader.next_event()
    }

    /// The rest of the value as a [`Value`].
    pub fn value(&mut self) -> Result<Value, Error> {
        self.reader.value()
    }
}

/// Turns a backend's status and output bytes into the result, an OK one
/// read by `read`.
pub(crate) fn decode_output_with<T>(
    status: std::os::raw::c_int,
    bytes: &[u8],
    functions: &FunctionOwner,
    options: &ContextOptions,
    read: impl FnOnce(&mut Events<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let host_bytes = options
        .max_result_bytes
        .saturating_mul(HOST_BYTES_PER_RESULT_BYTE);
    let mut r = Reader::with_owner(bytes, functions, host_bytes, options.max_depth);
    match status {
        ffi::STATUS_OK => read(&mut Events { reader: r }),
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
            let (line, column) = (r.u32()?, r.u32()?);
            let (source_line, script) = (r.string()?, r.string()?);
            let location = (line > 0).then(|| {
                Box::new(crate::Location {
                    script,
                    line,
                    column,
                    source_line,
                })
            });
            Err(Error::Exception {
                name,
                message,
                stack,
                location,
            })
        }
        ffi::STATUS_TIMEOUT => Err(Error::Timeout),
        ffi::STATUS_CPU_TIME => Err(Error::CpuTimeLimit),
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

/// The pacing of a wait for a promise ([`Context::await_promise`]), for
/// embedders that pause between looks themselves (e.g. with the context
/// free for other threads, or to check for signals).
#[derive(Debug)]
pub struct PromiseWait {
    deadline: Option<std::time::Instant>,
    poll: Duration,
}

/// What one look at a waited-for promise found.
#[derive(Debug)]
pub enum PromiseLook {
    /// Settled, or still pending when the wait ran out.
    Done(PromiseState),
    /// Look again after this pause (the next timer, or a poll for V8's
    /// own tasks, which arrive from its threads unannounced).
    Pause(Duration),
}

impl PromiseWait {
    /// Polls back off to this between looks.
    const MAX_POLL: Duration = Duration::from_millis(20);

    /// A wait of up to `wait` (`None`: unbounded) from now.
    pub fn new(wait: Option<Duration>) -> PromiseWait {
        PromiseWait {
            deadline: wait.map(|w| std::time::Instant::now() + w),
            poll: Duration::from_micros(500),
        }
    }

    /// Looks at `promise` once, running what is due first.
    pub fn look(&mut self, ctx: &mut Context, promise: &Value) -> Result<PromiseLook, Error> {
        let state = ctx.promise_state(promise)?;
        if !matches!(state, PromiseState::Pending) {
            return Ok(PromiseLook::Done(state));
        }
        let next_timer = ctx.run_pending()?;
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left == Some(Duration::ZERO) {
            return Ok(PromiseLook::Done(state));
        }
        let pause = [Some(self.poll), next_timer, left]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.poll);
        self.poll = (self.poll * 2).min(Self::MAX_POLL);
        Ok(PromiseLook::Pause(pause))
    }
}

/// The limits of `options` as the shim takes them.
pub(crate) fn isolate_limits(options: &ContextOptions) -> IsolateLimits {
    IsolateLimits {
        heap_limit: options.heap_limit.unwrap_or(0),
        max_result_bytes: options.max_result_bytes,
        max_depth: options.max_depth,
        options: isolate_options(options),
        snapshot: options.snapshot.clone(),
    }
}

/// The shim's option bits for `options`.
pub(crate) fn isolate_options(options: &ContextOptions) -> u32 {
    let mut bits = 0;
    if options.object_handles {
        bits |= ffi::OPTION_OBJECT_HANDLES;
        if options.isolation == Isolation::InProcess {
            bits |= ffi::OPTION_BUFFER_HANDLES;
        }
    }
    if options.event_loop {
        bits |= ffi::OPTION_EVENT_LOOP;
    }
    bits
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Undefined => "undefined",
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::BigInt(_) => "a BigInt",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Date(_) => "a Date",
        Value::Bytes(_) => "bytes",
        Value::Function(_) => "a function",
        Value::Handle(_) => "a handle",
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
