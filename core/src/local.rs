//! The in-process backend: one V8 isolate in this process, driven through
//! the shim. `Context` uses it for `Isolation::InProcess`; a worker process
//! uses it for the context it serves.

use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::context::{HeapStats, Job};
use crate::snapshot::Snapshot;
use crate::watchdog::OnDeadline;
use crate::{cpu_time, engine, ffi, watchdog, Error};

/// The isolate pointer as seen by other threads (watchdog, terminate
/// handles). `None` once the isolate is freed.
pub(crate) struct StopTarget {
    isolate: Mutex<Option<IsolatePtr>>,
}

struct IsolatePtr(NonNull<ffi::RawIsolate>);

// SAFETY: the pointer is only used for `v8cage_request_stop`, which the shim
// makes thread-safe (it takes the isolate's stop mutex and calls
// `Isolate::TerminateExecution`, which V8 allows from any thread); the
// surrounding Mutex keeps the isolate alive for the duration of that call.
// (The list of abandoned isolates in `Drop for LocalIsolate` never uses it.)
unsafe impl Send for IsolatePtr {}

impl StopTarget {
    pub(crate) fn stop(&self, reason: std::os::raw::c_int) {
        if engine::forked_after_start() {
            return;
        }
        let guard = self.isolate.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ptr) = guard.as_ref() {
            // SAFETY: the isolate is alive: LocalIsolate::drop takes it out of
            // this mutex before freeing it, and we hold the mutex.
            unsafe { ffi::v8cage_request_stop(ptr.0.as_ptr(), reason) };
        }
    }
}

impl OnDeadline for StopTarget {
    fn expire(&self) {
        self.stop(ffi::STOP_TIMEOUT);
    }
}

/// Stops an evaluation whose thread used up its CPU-time budget.
struct CpuTimeTarget {
    stop: Arc<StopTarget>,
    budget: cpu_time::Budget,
}

impl OnDeadline for CpuTimeTarget {
    fn expire(&self) {
        self.stop.stop(ffi::STOP_CPU_TIME);
    }
    fn postpone(&self) -> Option<std::time::Instant> {
        self.budget.look_again_at()
    }
}

/// The span in which stop requests (timeout, terminate) apply to one
/// `eval`/`call`. Opened before the deadline is armed, so a deadline that
/// passes before the script starts still stops it; closed when dropped, after
/// the deadline is disarmed (the shim also closes it when the evaluation ends).
struct StopWindow(NonNull<ffi::RawIsolate>);

impl StopWindow {
    fn open(raw: NonNull<ffi::RawIsolate>) -> StopWindow {
        // SAFETY: `raw` is the live isolate of the `LocalIsolate` being
        // borrowed mutably by the caller; opening the window only takes its
        // stop mutex.
        unsafe { ffi::v8cage_open_stop_window(raw.as_ptr()) };
        StopWindow(raw)
    }
}

impl Drop for StopWindow {
    fn drop(&mut self) {
        // SAFETY: the window lives inside one `run` of the LocalIsolate that
        // owns the isolate, so the isolate outlives it.
        unsafe { ffi::v8cage_close_stop_window(self.0.as_ptr()) };
    }
}

/// Context limits as the shim takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IsolateLimits {
    pub heap_limit: usize,
    pub max_result_bytes: usize,
    pub max_depth: u32,
    /// `ffi::OPTION_*` bits.
    pub options: u32,
    /// The snapshot the context starts from.
    pub snapshot: Option<Snapshot>,
}

/// One isolate with one global context.
pub(crate) struct LocalIsolate {
    raw: NonNull<ffi::RawIsolate>,
    target: Arc<StopTarget>,
    timer: watchdog::Timer,
    /// Each evaluation's CPU-time budget (`cpu_time_limit`), and its timer.
    cpu_time_limit: Option<Duration>,
    cpu_time: Arc<CpuTimeTarget>,
    cpu_timer: watchdog::Timer,
    /// The thread holding V8's lock between evaluations (`pin`).
    pinned_on: Option<std::thread::ThreadId>,
    /// The snapshot V8 reads while the isolate lives.
    _snapshot: Option<Snapshot>,
}

// SAFETY: every shim entry point takes a `v8::Locker` and sets the stack
// limit from the calling thread, so the isolate may be used from whichever
// thread owns it; `&mut self` serialises use.
unsafe impl Send for LocalIsolate {}

impl LocalIsolate {
    pub(crate) fn new(limits: &IsolateLimits) -> Result<LocalIsolate, Error> {
        engine::ensure_initialised()?;
        let ffi_limits = ffi::Limits {
            heap_limit: limits.heap_limit,
            max_result_bytes: limits.max_result_bytes,
            max_depth: limits.max_depth,
            options: limits.options,
            snapshot: limits
                .snapshot
                .as_ref()
                .map_or(std::ptr::null(), |s| s.blob().as_ptr()),
            snapshot_len: limits.snapshot.as_ref().map_or(0, |s| s.blob().len()),
        };
        let snapshot = limits.snapshot.clone();
        // SAFETY: `limits` is a valid pointer for the duration of the call; the
        // shim copies it. The snapshot's bytes it points to stay alive in
        // `self.snapshot` until after the isolate is freed (`Drop`).
        let raw = unsafe { ffi::v8cage_isolate_new(&ffi_limits) };
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::Engine("V8 could not create an isolate".into()))?;
        let target = Arc::new(StopTarget {
            isolate: Mutex::new(Some(IsolatePtr(raw))),
        });
        let timer = watchdog::Timer::new(target.clone());
        let cpu_time = Arc::new(CpuTimeTarget {
            stop: target.clone(),
            budget: cpu_time::Budget::default(),
        });
        let cpu_timer = watchdog::Timer::new(cpu_time.clone());
        Ok(LocalIsolate {
            raw,
            target,
            timer,
            cpu_time_limit: None,
            cpu_time,
            cpu_timer,
            pinned_on: None,
            _snapshot: snapshot,
        })
    }

    /// Bounds the CPU time of the thread running each later evaluation
    /// (`Error::CpuTimeLimit`); `None`: no bound.
    pub(crate) fn set_cpu_time_limit(&mut self, limit: Option<Duration>) {
        self.cpu_time_limit = limit;
    }

    /// Keeps V8's lock and per-thread state on the calling thread between
    /// evaluations (see `Context::pin_to_thread`).
    pub(crate) fn pin(&mut self) -> Result<(), Error> {
        engine::check_not_forked()?;
        self.usable_here()?;
        if self.pinned_on.is_none() {
            // SAFETY: `raw` is live and used exclusively through `&mut self`;
            // the lock it takes is released by `unpin` on this thread, which
            // `usable_here` keeps every other use of the isolate away from.
            unsafe { ffi::v8cage_pin_thread(self.raw.as_ptr(), 1) };
            self.pinned_on = Some(std::thread::current().id());
        }
        Ok(())
    }

    /// Releases a pin taken on this thread; a pin of another thread stays.
    pub(crate) fn unpin(&mut self) {
        if self.pinned_on == Some(std::thread::current().id()) {
            // SAFETY: `raw` is live; this thread took the lock being released.
            unsafe { ffi::v8cage_pin_thread(self.raw.as_ptr(), 0) };
            self.pinned_on = None;
        }
    }

    /// Another thread holds V8's lock for this isolate (its pin guard was
    /// forgotten): using it here would wait for that thread forever.
    fn usable_here(&self) -> Result<(), Error> {
        match self.pinned_on {
            Some(owner) if owner != std::thread::current().id() => Err(Error::InvalidInput(
                "this context is pinned to another thread (its ThreadPin was never dropped)".into(),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn stop_target(&self) -> Arc<StopTarget> {
        Arc::clone(&self.target)
    }

    /// Runs one job under `timeout`: released functions go first, then the
    /// stop window opens and the timeout is armed (in that order, so an early
    /// deadline still counts). Returns the shim's status and output bytes,
    /// valid until the next call on this isolate.
    pub(crate) fn run(
        &mut self,
        job: &Job<'_>,
        released: &[u32],
        timeout: Option<Duration>,
    ) -> Result<(std::os::raw::c_int, &[u8]), Error> {
        self.run_and_tell(job, released, timeout, || {})
    }

    /// [`LocalIsolate::run`], calling `window_open` once stop requests
    /// apply (a worker tells its terminator thread then).
    pub(crate) fn run_and_tell(
        &mut self,
        job: &Job<'_>,
        released: &[u32],
        timeout: Option<Duration>,
        window_open: impl FnOnce(),
    ) -> Result<(std::os::raw::c_int, &[u8]), Error> {
        engine::check_not_forked()?;
        self.usable_here()?;
        self.release_functions(released);
        let iso = self.raw.as_ptr();
        let mut out = ffi::Output::empty();
        let status = {
            let _window = StopWindow::open(self.raw);
            window_open();
            let _armed = timeout.map(|t| self.timer.arm(t));
            // A thread's CPU time cannot outrun the wall clock: the first
            // look is due when the whole budget could be spent at the earliest.
            // Without the thread's CPU clock (never seen on Linux) nothing
            // postpones the look: the limit holds as a wall-clock one.
            let _cpu_armed = self.cpu_time_limit.map(|limit| {
                let clock = cpu_time::CpuClock::of_this_thread();
                self.cpu_time.budget.start(clock, limit);
                self.cpu_timer.arm(limit)
            });
            // In each arm: `iso` is the live isolate this `&mut self` lends
            // exclusively, and each pointer/length pair is valid during the call.
            match *job {
                // SAFETY: see above.
                Job::Eval(source) => unsafe {
                    ffi::v8cage_eval(iso, source.as_ptr().cast(), source.len(), &mut out)
                },
                // SAFETY: see above.
                Job::Call(name, args) => unsafe {
                    ffi::v8cage_call(
                        iso,
                        name.as_ptr().cast(),
                        name.len(),
                        args.as_ptr(),
                        args.len(),
                        &mut out,
                    )
                },
                // SAFETY: see above.
                Job::CallFunction(id, args) => unsafe {
                    ffi::v8cage_call_function(iso, id, args.as_ptr(), args.len(), &mut out)
                },
                // SAFETY: see above.
                Job::Handle(op, id, args) => unsafe {
                    ffi::v8cage_handle_op(iso, op, id, args.as_ptr(), args.len(), &mut out)
                },
            }
        };
        let bytes: &[u8] = if out.data.is_null() {
            &[]
        } else {
            // SAFETY: the shim points `out` at its own buffer, valid until the
            // next call on this isolate, which cannot happen while the
            // returned borrow of `self` lives.
            unsafe { std::slice::from_raw_parts(out.data, out.len) }
        };
        Ok((status, bytes))
    }

    fn release_functions(&mut self, ids: &[u32]) {
        if !ids.is_empty() {
            // SAFETY: `raw` is live and exclusively ours (`&mut self`); `ids`
            // is valid for its length during the call.
            unsafe { ffi::v8cage_release_functions(self.raw.as_ptr(), ids.as_ptr(), ids.len()) };
        }
    }

    /// Routes host-function calls to `call` with `data`.
    ///
    /// # Safety
    /// `data` must stay valid for `call` as long as this isolate lives.
    pub(crate) unsafe fn set_host(&mut self, call: ffi::HostCall, data: *mut std::ffi::c_void) {
        // SAFETY: `raw` is live and exclusively ours; the caller vouches for `data`.
        unsafe { ffi::v8cage_set_host(self.raw.as_ptr(), Some(call), data) };
    }

    pub(crate) fn set_memory_limits(&mut self, soft: usize, hard: usize) {
        // SAFETY: `raw` is live; the shim stores the limits in atomics.
        unsafe { ffi::v8cage_set_memory_limits(self.raw.as_ptr(), soft, hard) };
    }

    pub(crate) fn memory_limits_reached(&self) -> (bool, bool) {
        let (mut soft, mut hard) = (0, 0);
        // SAFETY: `raw` is live; both out-pointers are valid locals.
        unsafe { ffi::v8cage_memory_limits_reached(self.raw.as_ptr(), &mut soft, &mut hard) };
        (soft != 0, hard != 0)
    }

    pub(crate) fn heap_stats(&self) -> HeapStats {
        if engine::forked_after_start() || self.usable_here().is_err() {
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

    pub(crate) fn low_memory_notification(&mut self) {
        if engine::forked_after_start() || self.usable_here().is_err() {
            return;
        }
        // SAFETY: `raw` is a live isolate, used exclusively through `&mut self`.
        unsafe { ffi::v8cage_low_memory_notification(self.raw.as_ptr()) };
    }

    /// The state of a snapshot-creating isolate's context as V8's snapshot
    /// blob. The isolate runs nothing afterwards.
    pub(crate) fn take_snapshot(&mut self) -> Result<Vec<u8>, Error> {
        engine::check_not_forked()?;
        self.usable_here()?;
        let mut out = ffi::Output::empty();
        // SAFETY: `raw` is a live isolate, used exclusively through `&mut
        // self`; `out` is a valid out-pointer, read before the next call.
        let status = unsafe { ffi::v8cage_snapshot_take(self.raw.as_ptr(), &mut out) };
        match status {
            ffi::STATUS_OK => {
                // SAFETY: the shim's output, valid until the isolate's next call.
                Ok(unsafe { crate::host::shim_bytes(out.data, out.len) }.to_vec())
            }
            ffi::STATUS_INVALID => Err(Error::InvalidInput(
                "this context cannot make a snapshot".into(),
            )),
            ffi::STATUS_CONVERSION => Err(Error::Conversion(
                "the snapshot exceeds max_result_bytes".into(),
            )),
            _ => Err(Error::Engine("V8 could not make a snapshot".into())),
        }
    }

    /// The shim's isolate, for the test-only entry points of `crate::testing`.
    #[cfg(feature = "bench-floor")]
    pub(crate) fn raw(&mut self) -> *mut ffi::RawIsolate {
        self.raw.as_ptr()
    }
}

impl Drop for LocalIsolate {
    fn drop(&mut self) {
        // After fork() the isolate is the parent's: freeing it would touch
        // V8 (and locks held by threads that no longer exist). Leak it.
        if engine::forked_after_start() {
            return;
        }
        self.unpin();
        // A pin still held by another thread: freeing would wait for its
        // lock forever. The isolate is kept instead, reachable (a deliberate
        // keep, not a leak) from a list nothing else reads.
        if self.usable_here().is_err() {
            static ABANDONED: Mutex<Vec<IsolatePtr>> = Mutex::new(Vec::new());
            ABANDONED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(IsolatePtr(self.raw));
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
