//! `Isolation::Process`: the context's V8 runs in a sandboxed worker process
//! (`worker.rs`, `sandbox.rs`), started ahead by `pool.rs`, spoken to in
//! the frames of `protocol.rs`. This file is the host's side: it sends a
//! request, waits for the reply, and turns a dead, late or lying worker into
//! a typed error. It never trusts a byte the worker sends.

mod pool;
#[cfg(feature = "sandbox-probes")]
pub(crate) mod probes;
mod protocol;
mod resource_watch;
mod sandbox;
mod worker;

use std::cell::RefCell;
use std::io::{BufReader, Read};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) use pool::keep_spare_workers;
#[cfg(feature = "spare-counts")]
pub(crate) use pool::spare_workers_kept;
pub use pool::{prestart_worker, set_worker_command, WORKER_ENV};
use protocol::{
    kind, poll_readable, read_frame, send_all, Fields, Frame, FrameError, POLL_BEFORE_BLOCKING,
    REPLY_OVERHEAD, STATUS_CALLBACK,
};
pub use sandbox::IsolationReport;
pub use worker::LOADED_BY_DLOPEN_ENV;
#[cfg(feature = "sandbox-probes")]
pub(crate) use worker::NO_SECCOMP_ENV;

use crate::context::{HeapStats, Job};
use crate::function::FunctionOwner;
use crate::host::HostFunctions;
use crate::local::IsolateLimits;
use crate::watchdog::{self, OnDeadline};
use crate::{ffi, wire, ContextOptions, Error};

/// Why the host killed a worker that had not answered in time.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kill {
    Timeout,
    Terminated,
    /// Past its resident-memory bound (see `resource_watch`).
    OutOfMemory,
    /// Past the backstop of its CPU-time limit (see `resource_watch`).
    CpuTime,
}

/// The request in flight, shared with terminate handles and the watchdog.
#[derive(Default)]
struct Flight {
    /// Sequence number of the evaluation running in the worker; 0 when idle.
    seq: u64,
    /// Set when the host killed the worker during `seq`.
    killed: Option<Kill>,
    /// The kill deadline a terminate request armed.
    terminate_deadline: Option<watchdog::Armed>,
}

pub(crate) struct Shared {
    flight: Mutex<Flight>,
    /// The worker's control socket (non-blocking: a worker that stops
    /// reading it must not block a terminating thread).
    control: std::os::unix::net::UnixStream,
    pid: libc::pid_t,
    kill_grace: Duration,
}

impl Shared {
    /// Kills the worker if evaluation `seq` is still in flight. The worker
    /// cannot have been reaped yet: reaping happens only after the flight
    /// ended, under this lock's protection of `seq`.
    fn kill_during(&self, seq: u64, why: Kill) {
        let mut flight = self.flight.lock().unwrap_or_else(|e| e.into_inner());
        if flight.seq == seq && flight.killed.is_none() {
            // SAFETY: `pid` is our unreaped child (see above); no pointers.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            flight.killed = Some(why);
        }
    }

    /// Asks the worker to stop the running evaluation, and arms a kill for
    /// when it has not answered within the grace period.
    pub(crate) fn terminate(self: &Arc<Self>) {
        let mut flight = self.flight.lock().unwrap_or_else(|e| e.into_inner());
        if flight.seq == 0 || flight.killed.is_some() || flight.terminate_deadline.is_some() {
            return;
        }
        let seq = flight.seq;
        let _ = send_all(self.control.as_fd(), &seq.to_le_bytes());
        let kill = Arc::new(KillAt {
            shared: Arc::clone(self),
            seq,
            why: Kill::Terminated,
        });
        flight.terminate_deadline = Some(watchdog::arm(kill, self.kill_grace));
    }
}

/// A kill the watchdog carries out at a deadline.
struct KillAt {
    shared: Arc<Shared>,
    seq: u64,
    why: Kill,
}

impl OnDeadline for KillAt {
    fn expire(&self) {
        self.shared.kill_during(self.seq, self.why);
    }
}

impl resource_watch::OverBound for Shared {
    fn over_bound(&self, seq: u64, bound: resource_watch::Bound) {
        let why = match bound {
            resource_watch::Bound::Memory => Kill::OutOfMemory,
            resource_watch::Bound::CpuTime => Kill::CpuTime,
        };
        self.kill_during(seq, why);
    }
}

/// The host's handle on one worker.
pub(crate) struct Remote {
    state: RefCell<State>,
    shared: Arc<Shared>,
    report: IsolationReport,
    max_reply: usize,
    /// The worker's CPU time (all threads) at which the host kills it
    /// during an evaluation: twice the context's CPU-time limit plus the
    /// kill grace (the worker itself stops an evaluation at the limit).
    cpu_time_backstop: Option<Duration>,
    /// The process that created the context: a forked child must not talk
    /// over the parent's channel.
    owner_pid: u32,
}

struct State {
    /// `None` once the worker is gone; `lost` says why.
    worker: Option<pool::Worker>,
    reader: Option<BufReader<std::os::unix::net::UnixStream>>,
    lost: Option<Error>,
    /// The lost worker's peak resident memory, from its reaping.
    peak_resident: Option<u64>,
    next_seq: u64,
}

/// A reply, or why there is none.
enum Outcome {
    Reply(Vec<u8>),
    Failed(Error),
}

impl Remote {
    pub(crate) fn new(options: &ContextOptions, limits: &IsolateLimits) -> Result<Remote, Error> {
        let worker = if options.v8_flags.trim().is_empty() {
            pool::take()?
        } else {
            pool::spawn_with_flags(&options.v8_flags)?
        };
        Remote::start(worker, options, limits)
    }

    /// A context on a worker started with extra environment variables (the
    /// sandbox tests' fence); no spare is used.
    #[cfg(feature = "sandbox-probes")]
    pub(crate) fn with_env(
        options: &ContextOptions,
        env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Remote, Error> {
        let limits = crate::context::isolate_limits(options);
        Remote::start(pool::spawn_with_env(env)?, options, &limits)
    }

    fn start(
        mut worker: pool::Worker,
        options: &ContextOptions,
        limits: &IsolateLimits,
    ) -> Result<Remote, Error> {
        let ready = worker.wait_ready();
        let pid = worker.child.id() as libc::pid_t;
        let control = worker
            .control
            .try_clone()
            .map_err(|e| Error::Engine(format!("worker channel: {e}")))?;
        control
            .set_nonblocking(true)
            .map_err(|e| Error::Engine(format!("worker channel: {e}")))?;
        let reader = worker
            .requests
            .try_clone()
            .map_err(|e| Error::Engine(format!("worker channel: {e}")))?;
        let remote = Remote {
            state: RefCell::new(State {
                worker: Some(worker),
                reader: Some(BufReader::with_capacity(64 << 10, reader)),
                lost: None,
                peak_resident: None,
                next_seq: 1,
            }),
            shared: Arc::new(Shared {
                flight: Mutex::default(),
                control,
                pid,
                kill_grace: options.kill_grace,
            }),
            report: IsolationReport::default(),
            max_reply: options.max_result_bytes.saturating_add(REPLY_OVERHEAD),
            cpu_time_backstop: options
                .cpu_time_limit
                .map(|limit| limit.saturating_mul(2).saturating_add(options.kill_grace)),
            owner_pid: std::process::id(),
        };
        if let Err(e) = ready {
            let mut state = remote.state.borrow_mut();
            return Err(match e {
                FrameError::Malformed(what) => remote.lose(&mut state, Some(garbage_error(&what))),
                FrameError::Closed(_) => remote.lose(&mut state, None),
            });
        }
        let create = Frame::new(kind::CREATE)
            .u64(limits.heap_limit as u64)
            .u64(limits.max_result_bytes as u64)
            .u32(limits.max_depth)
            .u32(limits.options)
            .duration(options.cpu_time_limit)
            .bytes(limits.snapshot.as_ref().map_or(&[], |s| s.blob()))
            .finish();
        let body = match remote.exchange(&create) {
            Outcome::Reply(body) => body,
            Outcome::Failed(e) => return Err(e),
        };
        let mut f = Fields::new(&body);
        let parsed = (|| {
            let status = f.i32()?;
            if status != 0 {
                let message = String::from_utf8_lossy(f.bytes()?).into_owned();
                return Ok(Err(Error::Engine(message)));
            }
            let flags = f.u64()?;
            let address_space = f.u64()?;
            let heap_limit = f.u64()?;
            f.end()?;
            // Sanitizer shadow memory is resident too: no bound there.
            let resident_bound =
                (!cfg!(v8cage_sanitized)).then(|| resource_watch::bound_for_heap(heap_limit));
            Ok(Ok(IsolationReport::decode(
                flags,
                address_space,
                resident_bound,
                pid as u32,
            )))
        })();
        match parsed {
            Ok(Ok(report)) => Ok(Remote { report, ..remote }),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(remote.lose_to_garbage(e)),
        }
    }

    pub(crate) fn report(&self) -> &IsolationReport {
        &self.report
    }

    /// The most memory the worker has had resident, in bytes: its `VmHWM`
    /// while it lives, its `ru_maxrss` once it was lost.
    pub(crate) fn peak_resident(&self) -> Option<u64> {
        let state = self.state.borrow();
        if state.worker.is_none() {
            return state.peak_resident;
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.shared.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Runs one job in the worker: its reply body (see [`decode_reply`]).
    pub(crate) fn run(
        &self,
        job: &Job<'_>,
        released: &[u32],
        timeout: Option<Duration>,
        host: Option<&HostFunctions>,
    ) -> Result<Vec<u8>, Error> {
        // The hard deadline covers the whole call: encoding and handing over
        // a large source or argument list count against it.
        let entered = std::time::Instant::now();
        let seq = {
            let mut state = self.state.borrow_mut();
            state.next_seq += 1;
            state.next_seq
        };
        let frame = match *job {
            Job::Eval(source) => Frame::new(kind::EVAL)
                .u64(seq)
                .duration(timeout)
                .u32s(released)
                .bytes(source.as_bytes()),
            Job::Call(name, args) => Frame::new(kind::CALL)
                .u64(seq)
                .duration(timeout)
                .u32s(released)
                .bytes(name.as_bytes())
                .bytes(args),
            Job::CallFunction(id, args) => Frame::new(kind::CALL_FUNCTION)
                .u64(seq)
                .duration(timeout)
                .u32s(released)
                .u32(id)
                .bytes(args),
            Job::Handle(op, id, args) => Frame::new(kind::HANDLE_OP)
                .u64(seq)
                .duration(timeout)
                .u32s(released)
                .u32(op as u32)
                .u32(id)
                .bytes(args),
        }
        .finish();
        let hard_deadline = timeout.map(|t| {
            let kill = Arc::new(KillAt {
                shared: Arc::clone(&self.shared),
                seq,
                why: Kill::Timeout,
            });
            let whole = t.saturating_add(self.shared.kill_grace);
            (kill, whole.saturating_sub(entered.elapsed()))
        });
        match self.exchange_in_flight(&frame, seq, hard_deadline, host) {
            Outcome::Reply(body) => Ok(body),
            Outcome::Failed(e) => Err(e),
        }
    }

    /// Sends a request and reads its reply, with no evaluation in flight.
    fn exchange(&self, frame: &[u8]) -> Outcome {
        self.exchange_in_flight(frame, 0, None, None)
    }

    /// Sends a request and waits for the reply; while it runs, evaluation
    /// `seq` (if not 0) can be terminated, and the worker is killed at the
    /// hard deadline if one is given.
    /// Host-function calls the evaluation makes meanwhile are answered
    /// from `host` (their time counts against the deadline).
    fn exchange_in_flight(
        &self,
        frame: &[u8],
        seq: u64,
        hard_deadline: Option<(Arc<KillAt>, Duration)>,
        host: Option<&HostFunctions>,
    ) -> Outcome {
        let mut state = self.state.borrow_mut();
        if let Some(e) = &state.lost {
            return Outcome::Failed(e.clone());
        }
        if std::process::id() != self.owner_pid {
            return Outcome::Failed(Error::InvalidInput(
                "this context's worker belongs to the parent process (the context was \
                 created before fork()); create a new context in the child"
                    .into(),
            ));
        }
        {
            let mut flight = self.shared.flight.lock().unwrap_or_else(|e| e.into_inner());
            flight.seq = seq;
            flight.killed = None;
        }
        let armed = hard_deadline.map(|(kill, after)| watchdog::arm(kill, after));
        // An evaluation's memory and CPU time are watched while it runs.
        let bounds = resource_watch::Bounds {
            memory: self.report.resident_memory_bound,
            cpu_time: self.cpu_time_backstop,
        };
        let watching =
            (seq != 0 && (bounds.memory.is_some() || bounds.cpu_time.is_some())).then(|| {
                resource_watch::start(
                    self.shared.pid,
                    bounds,
                    Arc::clone(&self.shared) as Arc<dyn resource_watch::OverBound>,
                    seq,
                )
            });
        let fields = &mut *state;
        let worker = fields.worker.as_ref().expect("a worker while not lost");
        let sent = send_all(worker.requests.as_fd(), frame);
        let received = match sent {
            Ok(()) => loop {
                let reader = fields.reader.as_mut().expect("a reader while not lost");
                if reader.buffer().is_empty() {
                    poll_readable(reader.get_ref().as_fd(), POLL_BEFORE_BLOCKING);
                }
                let body = match read_frame(reader, self.max_reply) {
                    Ok(body) => body,
                    failed => break failed,
                };
                let Some(call) = callback_in(&body) else {
                    break Ok(body);
                };
                let (status, bytes) = match (call, host) {
                    (Ok((id, args)), Some(host)) => match host.call(id, args) {
                        Ok(result) => (0, result),
                        Err(message) => (1, message.into_bytes()),
                    },
                    // A worker may ask any context for a module.
                    (Ok((ffi::MODULE_LOADER, _)), None) => {
                        (1, crate::host::no_module_loader().into_bytes())
                    }
                    // A worker calling what was never made is broken.
                    _ => break Err(FrameError::Malformed("a host-function call".into())),
                };
                let reply = Frame::new(kind::CALLBACK_REPLY)
                    .i32(status)
                    .bytes(&bytes)
                    .finish();
                if let Err(e) = send_all(worker.requests.as_fd(), &reply) {
                    break Err(FrameError::Closed(e));
                }
            },
            Err(e) => Err(FrameError::Closed(e)),
        };
        let (killed, terminate_deadline) = {
            let mut flight = self.shared.flight.lock().unwrap_or_else(|e| e.into_inner());
            flight.seq = 0;
            (flight.killed.take(), flight.terminate_deadline.take())
        };
        // Outside the flight lock: disarming waits for a kill being fired,
        // which takes that lock.
        drop(armed);
        drop(terminate_deadline);
        drop(watching);
        match (received, killed) {
            (Ok(body), None) => Outcome::Reply(body),
            (Ok(body), Some(why)) => {
                // It answered just as it was killed: the answer stands, the worker does not.
                self.lose(&mut state, Some(Self::killed_error(why)));
                Outcome::Reply(body)
            }
            (Err(FrameError::Malformed(what)), _) => {
                Outcome::Failed(self.lose(&mut state, Some(garbage_error(&what))))
            }
            (Err(FrameError::Closed(_)), Some(why)) => {
                Outcome::Failed(self.lose(&mut state, Some(Self::killed_error(why))))
            }
            (Err(FrameError::Closed(_)), None) => Outcome::Failed(self.lose(&mut state, None)),
        }
    }

    fn killed_error(why: Kill) -> Error {
        match why {
            Kill::Timeout => Error::Timeout,
            Kill::Terminated => Error::Terminated,
            Kill::OutOfMemory => Error::OutOfMemory,
            Kill::CpuTime => Error::CpuTimeLimit,
        }
    }

    /// Marks the worker gone: kills and reaps it, keeps why for later calls.
    /// `error: None` means it died by itself: the error is built from how it
    /// died and its stderr.
    fn lose(&self, state: &mut State, error: Option<Error>) -> Error {
        state.reader = None;
        let mut last_words = String::new();
        let mut status = None;
        if let Some(mut worker) = state.worker.take() {
            let reaped = worker.kill_and_reap();
            status = reaped.map(|r| r.status);
            state.peak_resident = reaped.map(|r| r.peak_resident);
            last_words = read_last_words(&mut worker.stderr);
        }
        let error = error.unwrap_or_else(|| death_error(status, &last_words));
        let why = match &error {
            Error::Crashed { message, .. } => message.clone(),
            other => other.to_string(),
        };
        state.lost = Some(Error::Crashed {
            signal: match &error {
                Error::Crashed { signal, .. } => *signal,
                _ => None,
            },
            message: format!(
                "this context's worker process is gone ({why}); its globals are lost: create a new context"
            ),
        });
        error
    }

    fn lose_to_garbage(&self, e: FrameError) -> Error {
        let what = match e {
            FrameError::Malformed(what) => what,
            FrameError::Closed(e) => e.to_string(),
        };
        let mut state = self.state.borrow_mut();
        self.lose(&mut state, Some(garbage_error(&what)))
    }

    /// A reply the host could not decode: the worker is lying or broken,
    /// so it is killed and the context lost; `error` is the caller's.
    pub(crate) fn reject_reply(&self, error: Error) -> Error {
        let mut state = self.state.borrow_mut();
        self.lose(&mut state, Some(error))
    }

    /// Sends a small request that is not an evaluation; `None` if the worker
    /// is gone (the next evaluation reports why).
    fn request(&self, frame: Vec<u8>) -> Option<Vec<u8>> {
        match self.exchange(&frame) {
            Outcome::Reply(body) => Some(body),
            Outcome::Failed(_) => None,
        }
    }

    pub(crate) fn heap_stats(&self) -> HeapStats {
        let Some(body) = self.request(Frame::new(kind::HEAP_STATS).finish()) else {
            return HeapStats::default();
        };
        let mut f = Fields::new(&body);
        let parsed = (|| {
            let stats = HeapStats {
                used: f.usize()?,
                total: f.usize()?,
                limit: f.usize()?,
                external: f.usize()?,
            };
            f.end()?;
            Ok(stats)
        })();
        parsed.unwrap_or_else(|e| {
            self.lose_to_garbage(e);
            HeapStats::default()
        })
    }

    pub(crate) fn set_memory_limits(&self, soft: usize, hard: usize) {
        let frame = Frame::new(kind::SET_MEMORY_LIMITS)
            .u64(soft as u64)
            .u64(hard as u64)
            .finish();
        self.request(frame);
    }

    pub(crate) fn memory_limits_reached(&self) -> (bool, bool) {
        let Some(body) = self.request(Frame::new(kind::MEMORY_LIMITS_REACHED).finish()) else {
            return (false, false);
        };
        let mut f = Fields::new(&body);
        let parsed = (|| {
            let reached = (f.u8()? != 0, f.u8()? != 0);
            f.end()?;
            Ok(reached)
        })();
        parsed.unwrap_or_else(|e| {
            self.lose_to_garbage(e);
            (false, false)
        })
    }

    pub(crate) fn low_memory_notification(&self) {
        self.request(Frame::new(kind::LOW_MEMORY).finish());
    }

    /// The snapshot blob of a snapshot-creating worker's context.
    pub(crate) fn take_snapshot(&self) -> Result<Vec<u8>, Error> {
        let body = match self.exchange(&Frame::new(kind::TAKE_SNAPSHOT).finish()) {
            Outcome::Reply(body) => body,
            Outcome::Failed(e) => return Err(e),
        };
        let mut f = Fields::new(&body);
        let parsed = (|| {
            let status = f.i32()?;
            let bytes = f.bytes()?.to_vec();
            f.end()?;
            Ok((status, bytes))
        })();
        let (status, bytes) = parsed.map_err(|e| self.lose_to_garbage(e))?;
        let message = || String::from_utf8_lossy(&bytes).into_owned();
        match status {
            ffi::STATUS_OK => Ok(bytes),
            ffi::STATUS_CONVERSION => Err(Error::Conversion(message())),
            ffi::STATUS_INVALID => Err(Error::InvalidInput(message())),
            _ => Err(Error::Engine(message())),
        }
    }

    /// Runs a sandbox probe in the worker (feature `sandbox-probes`).
    #[cfg(feature = "sandbox-probes")]
    pub(crate) fn probe(&self, probe: u8) -> Result<i32, Error> {
        match self.exchange(
            &Frame::new(kind::PROBE)
                .u8(probe)
                .u32(std::process::id())
                .finish(),
        ) {
            Outcome::Reply(body) => Fields::new(&body)
                .i32()
                .map_err(|e| self.lose_to_garbage(e)),
            Outcome::Failed(e) => Err(e),
        }
    }
}

/// A worker -> host frame calling a host function (see `STATUS_CALLBACK`):
/// `None` for any other frame, `Some(Err)` for a malformed call.
fn callback_in(body: &[u8]) -> Option<Result<(u32, &[u8]), ()>> {
    let (status, rest) = body.split_first_chunk::<4>()?;
    if i32::from_le_bytes(*status) != STATUS_CALLBACK {
        return None;
    }
    Some(match rest.split_first_chunk::<4>() {
        Some((id, args)) => Ok((u32::from_le_bytes(*id), args)),
        None => Err(()),
    })
}

/// Decodes an evaluation's reply body (status, then the shim's output as
/// the worker claims it). Anything that does not parse is
/// [`Error::Crashed`]; a well-formed result that breaks a limit is the
/// same [`Error::Conversion`] as in process.
#[cfg(any(test, feature = "reply-decoder"))]
pub(crate) fn decode_reply(
    body: &[u8],
    functions: &FunctionOwner,
    options: &ContextOptions,
) -> Result<crate::Value, Error> {
    decode_reply_with(body, functions, options, |events| events.value())
}

/// [`decode_reply`], with an OK result read by `read`.
pub(crate) fn decode_reply_with<T>(
    body: &[u8],
    functions: &FunctionOwner,
    options: &ContextOptions,
    read: impl FnOnce(&mut crate::context::Events<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let Some((status, output)) = body.split_first_chunk::<4>() else {
        return Err(garbage_error("a reply without status"));
    };
    let status = i32::from_le_bytes(*status);
    if !(ffi::STATUS_OK..=ffi::STATUS_CPU_TIME).contains(&status) {
        return Err(garbage_error(&format!("status {status}")));
    }
    match crate::context::decode_output_with(status, output, functions, options, read) {
        Err(e) if wire::is_malformed(&e) => Err(garbage_error("a result that does not parse")),
        decoded => decoded,
    }
}

/// A whole reply frame as it arrives on the socket (length, then body), for
/// the `worker_reply` fuzz target: the host's reading and decoding,
/// without a worker.
#[cfg(feature = "reply-decoder")]
pub(crate) fn read_and_decode_reply(
    frame: &[u8],
    options: &ContextOptions,
) -> Result<crate::Value, Error> {
    let max_reply = options.max_result_bytes.saturating_add(REPLY_OVERHEAD);
    let body = read_frame(&mut &frame[..], max_reply).map_err(|e| match e {
        FrameError::Malformed(what) => garbage_error(&what),
        FrameError::Closed(_) => garbage_error("a frame cut short"),
    })?;
    let functions = FunctionOwner {
        context_id: 0,
        released: Default::default(),
        local_memory: false,
    };
    decode_reply(&body, &functions, options)
}

/// The frame a worker sends for an evaluation's outcome.
pub(crate) fn reply_frame(status: i32, output: &[u8]) -> Vec<u8> {
    Frame::reply().i32(status).tail(output).finish()
}

fn garbage_error(what: &str) -> Error {
    Error::Crashed {
        signal: None,
        message: format!("the worker broke the protocol ({what}); it was killed"),
    }
}

/// Up to 64 KiB the worker wrote to stderr before it died (non-blocking:
/// the pipe may be empty or still held open by nobody).
fn read_last_words(stderr: &mut std::io::PipeReader) -> String {
    use std::os::fd::AsRawFd;
    // SAFETY: sets a status flag on our own pipe descriptor; no pointers.
    unsafe {
        let fd = stderr.as_raw_fd();
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
        )
    };
    let mut text = Vec::new();
    let _ = stderr.take(64 << 10).read_to_end(&mut text);
    String::from_utf8_lossy(&text).trim().to_owned()
}

/// What V8's fatal messages say of a length past V8's maximum.
const LENGTH_ABORTS: &[&str] = &[
    "invalid array length",
    "invalid table size",
    "invalid size error",
];

/// The error for a worker that died on its own: V8's fatal message, the
/// signal, or the exit status.
fn death_error(status: Option<std::process::ExitStatus>, last_words: &str) -> Error {
    use std::os::unix::process::ExitStatusExt;
    let signal = status.and_then(|s| s.signal());
    // V8's own words about the heap (a fatal "out of memory", or an
    // allocation refused under RLIMIT_AS) — except the aborts V8 files under
    // "OOM" that are about a length beyond its maximum, with memory to spare
    // ("Fatal javascript OOM in invalid array length" after ~40 MB): those
    // are crashes, and V8's message says more than OutOfMemory would.
    let lower = last_words.to_ascii_lowercase();
    let length_abort = LENGTH_ABORTS.iter().any(|words| lower.contains(words));
    if !length_abort
        && (lower.contains("out of memory")
            || lower.contains("javascript oom")
            || lower.contains("heap limit"))
    {
        return Error::OutOfMemory;
    }
    let mut message = fatal_lines(last_words);
    if message.is_empty() {
        message = match (signal, status.and_then(|s| s.code())) {
            (Some(libc::SIGSYS), _) => {
                "killed by SIGSYS: the sandbox refused a system call".to_owned()
            }
            (Some(sig), _) => format!("killed by signal {sig}"),
            (None, Some(code)) => format!("exited with status {code}"),
            (None, None) => "the worker closed its channel".to_owned(),
        };
    }
    Error::Crashed { signal, message }
}

/// V8 prints fatal errors as `#`-prefixed lines around a native stack trace;
/// the lines with text are its message. Anything else is kept as it is,
/// bounded to its last 2,000 characters.
fn fatal_lines(text: &str) -> String {
    let fatal: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("FailureMessage"))
        .collect();
    if !fatal.is_empty() {
        return fatal.join("; ");
    }
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(2000)..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    #[test]
    fn host_function_calls_are_told_apart_from_replies() {
        let call = Frame::reply()
            .i32(STATUS_CALLBACK)
            .u32(7)
            .tail(b"args")
            .finish();
        assert_eq!(callback_in(&call[4..]), Some(Ok((7, &b"args"[..]))));
        let short = Frame::reply().i32(STATUS_CALLBACK).u8(1).finish();
        assert_eq!(callback_in(&short[4..]), Some(Err(())));
        let reply = Frame::reply().i32(ffi::STATUS_OK).tail(&[1]).finish();
        assert_eq!(callback_in(&reply[4..]), None);
        assert_eq!(callback_in(&[]), None);
    }

    fn decode(body: &[u8]) -> Result<Value, Error> {
        let functions = FunctionOwner {
            context_id: 0,
            released: Default::default(),
            local_memory: false,
        };
        decode_reply(body, &functions, &ContextOptions::default())
    }

    fn crashed(result: Result<Value, Error>) -> bool {
        matches!(result, Err(Error::Crashed { signal: None, .. }))
    }

    #[test]
    fn an_honest_reply_decodes() {
        let mut body = ffi::STATUS_OK.to_le_bytes().to_vec();
        body.push(wire::tag::NULL);
        assert_eq!(decode(&body), Ok(Value::Null));
        assert_eq!(
            decode(&ffi::STATUS_TIMEOUT.to_le_bytes()),
            Err(Error::Timeout)
        );
    }

    #[test]
    fn what_no_honest_worker_sends_is_crashed() {
        assert!(crashed(decode(&[])));
        assert!(crashed(decode(&[0, 0])));
        assert!(crashed(decode(&17i32.to_le_bytes())));
        assert!(crashed(decode(&(-1i32).to_le_bytes())));
        // OK without a value, and a string longer than the reply.
        assert!(crashed(decode(&ffi::STATUS_OK.to_le_bytes())));
        let mut lying = ffi::STATUS_CONVERSION.to_le_bytes().to_vec();
        lying.extend_from_slice(&u32::MAX.to_ne_bytes());
        assert!(crashed(decode(&lying)));
        // Nested deeper than max_depth (1,000 by default).
        let mut deep = ffi::STATUS_OK.to_le_bytes().to_vec();
        for _ in 0..1001 {
            deep.push(wire::tag::ARRAY);
            deep.extend_from_slice(&1u32.to_ne_bytes());
        }
        deep.push(wire::tag::NULL);
        assert!(crashed(decode(&deep)));
    }
}
