//! The worker process: one sandboxed V8 context served over a socket.
//!
//! Any executable that links v8cage can be a worker: the host starts it with
//! [`CHANNEL_ENV`] set, and a constructor that runs before `main` (or when a
//! shared library is loaded, as in Python) takes over, serves its one
//! context and `_exit`s. So a test binary, a user's program or the Python
//! interpreter loading the extension all work with no worker binary to ship.

use std::cell::RefCell;
use std::ffi::c_void;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, FromRawFd, RawFd};
use std::os::raw::c_int;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::protocol::{
    kind, poll_readable, read_frame, send_all, Fields, Frame, FrameError, POLL_BEFORE_BLOCKING,
    STATUS_CALLBACK,
};
use super::sandbox::{self, IsolationReport};
use crate::context::Job;
use crate::local::{IsolateLimits, LocalIsolate, StopTarget};
use crate::snapshot::Snapshot;
use crate::{engine, ffi, wire, Error};

/// `"<request fd>,<control fd>"`: set only in a worker's environment.
pub(crate) const CHANNEL_ENV: &str = "V8CAGE_WORKER_CHANNEL";
/// The V8 flags the host was given with `set_flags`.
pub(crate) const FLAGS_ENV: &str = "V8CAGE_WORKER_FLAGS";
/// Test fence (feature `sandbox-probes`): skip the seccomp filter, so the
/// sandbox tests can show that their probes succeed without it.
#[cfg(feature = "sandbox-probes")]
pub(crate) const NO_SECCOMP_ENV: &str = "V8CAGE_TEST_WORKER_WITHOUT_SECCOMP";

const REQUEST_FD: RawFd = 3;
const CONTROL_FD: RawFd = 4;

/// Exit codes the host reads as the worker's last words when it has none.
pub(crate) const EXIT_BAD_CHANNEL: i32 = 101;
pub(crate) const EXIT_BAD_REQUEST: i32 = 102;
pub(crate) const EXIT_NO_THREAD: i32 = 103;

/// The context thread's stack: what a main thread gets (V8 itself stops
/// JavaScript at 500 KiB, `--stack-size`; conversions use the rest).
const CONTEXT_THREAD_STACK: usize = 8 << 20;

/// Set (to anything) by a launcher that loads v8cage with dlopen and then
/// keeps the process alive itself (Python's, `ctypes.CDLL`): the start-up
/// hook returns and leaves the context thread serving. Joining it there
/// would deadlock: the dynamic loader holds its lock while the hook runs,
/// and the thread needs it (thread-local destructors register under it).
pub const LOADED_BY_DLOPEN_ENV: &str = "V8CAGE_WORKER_LOADED_BY_DLOPEN";

/// `serve`'s answer when the context thread serves on and ends the process.
const SERVING_ELSEWHERE: i32 = -1;

/// Referred to by the spawning code, so that the hook below is linked.
pub(crate) const START_UP_HOOK: fn() = serve_if_worker;

#[ctor::ctor(unsafe)]
fn serve_if_worker() {
    let Some(channel) = std::env::var_os(CHANNEL_ENV) else {
        return;
    };
    // Single-threaded here (before main or at load): nothing reads the
    // environment concurrently.
    std::env::remove_var(CHANNEL_ENV);
    let loaded_by_dlopen = std::env::var_os(LOADED_BY_DLOPEN_ENV).is_some();
    std::env::remove_var(LOADED_BY_DLOPEN_ENV);
    let code = serve(&channel.to_string_lossy(), loaded_by_dlopen);
    if code == SERVING_ELSEWHERE {
        return;
    }
    end_worker(code)
}

/// Ends the worker process with `code`.
fn end_worker(code: i32) -> ! {
    // SAFETY: ends the process without running the host program's atexit
    // handlers or destructors (a sanitizer's exit-time leak scan would open
    // files the sandbox refuses); every reply has been written.
    unsafe { libc::_exit(code) }
}

/// Moves the channel to descriptors 3 and 4 and closes everything above.
fn take_channel(channel: &str) -> Option<()> {
    let (request, control) = channel.split_once(',')?;
    let fds: [RawFd; 2] = [request.parse().ok()?, control.parse().ok()?];
    // First out of the way (the targets may be each other's sources), then
    // into place; dup2 clears close-on-exec on the copies.
    let mut high = [0; 2];
    for (slot, fd) in high.iter_mut().zip(fds) {
        // SAFETY: duplicating a descriptor the host handed over; no pointers.
        *slot = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
        if *slot < 0 {
            return None;
        }
    }
    for (fd, target) in high.into_iter().zip([REQUEST_FD, CONTROL_FD]) {
        // SAFETY: as above.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return None;
        }
    }
    Some(())
}

fn serve(channel: &str, loaded_by_dlopen: bool) -> i32 {
    let (user_namespace, network_namespace) = sandbox::enter_namespaces();
    sandbox::one_malloc_arena();
    if take_channel(channel).is_none() {
        return EXIT_BAD_CHANNEL;
    }
    let inherited_fds_closed = sandbox::close_fds_from(CONTROL_FD as u32 + 1);
    // Nobody may block the worker by not draining its stderr: what does not
    // fit the pipe is dropped.
    // SAFETY: changes the status flags of descriptor 2 only.
    unsafe { libc::fcntl(2, libc::F_SETFL, libc::O_NONBLOCK) };
    // V8 15 asks glibc where the stack of each thread entering an isolate
    // starts (pthread_getattr_np), and for the main thread glibc reads
    // /proc/self/maps, a file the sandbox refuses (SIGSYS): the context is
    // served on a thread of its own, started after the namespaces (which
    // need a single-threaded process). It ends the process.
    let context_thread = std::thread::Builder::new()
        .name("v8cage-worker".into())
        .stack_size(CONTEXT_THREAD_STACK)
        .spawn(move || {
            // A panic ends the process as it did on the main thread (no
            // one else would: Python's launcher waits for ever).
            let served = std::panic::catch_unwind(|| {
                serve_context(user_namespace, network_namespace, inherited_fds_closed)
            });
            end_worker(served.unwrap_or_else(|_| std::process::abort()))
        });
    match context_thread {
        Err(_) => EXIT_NO_THREAD,
        Ok(_) if loaded_by_dlopen => SERVING_ELSEWHERE,
        Ok(thread) => {
            // Never returns: the thread ends the process.
            let _ = thread.join();
            std::process::abort()
        }
    }
}

fn serve_context(user_namespace: bool, network_namespace: bool, inherited_fds_closed: bool) -> i32 {
    // SAFETY: descriptors 3 and 4 are the worker's sockets from here on,
    // each owned by exactly one UnixStream.
    let (requests, control) = unsafe {
        (
            UnixStream::from_raw_fd(REQUEST_FD),
            UnixStream::from_raw_fd(CONTROL_FD),
        )
    };
    if let Ok(flags) = std::env::var(FLAGS_ENV) {
        std::env::remove_var(FLAGS_ENV);
        // Checked by the host (`set_flags`, `ContextOptions::v8_flags`);
        // V8 has not started here, so this cannot fail.
        let _ = engine::set_checked_flags(&flags);
    }
    warm_up();
    // The isolate of a context with default options, made before "ready" so
    // a spare worker has it when it is handed out.
    let _ = crate::spare::make_now(&contained(crate::context::isolate_limits(
        &crate::ContextOptions {
            isolation: crate::Isolation::Process,
            ..Default::default()
        },
    )));
    let mut report = IsolationReport {
        user_namespace,
        network_namespace,
        inherited_fds_closed,
        ..Default::default()
    };
    // Ready: V8 is up, a context costs only its isolate from here on.
    if send_all(requests.as_fd(), &Frame::reply().finish()).is_err() {
        return 0;
    }
    // Declared before the isolate: it outlives it (the isolate's host
    // functions call through it).
    let channel = Box::new(Channel {
        requests: &requests,
        reader: RefCell::new(BufReader::with_capacity(64 << 10, &requests)),
        result: RefCell::default(),
    });
    let created = create(&mut channel.reader.borrow_mut());
    let (mut isolate, limits) = match created {
        Ok(created) => created,
        Err(message) => {
            let reply = Frame::reply().i32(-1).bytes(message.as_bytes()).finish();
            let _ = send_all(requests.as_fd(), &reply);
            return 0;
        }
    };
    // SAFETY: `channel` is boxed and outlives `isolate` (declared first,
    // dropped last); the shim calls `call_host` only on this thread, while
    // an evaluation runs inside `answer`, when the main loop does not hold
    // the reader.
    unsafe { isolate.set_host(call_host, &*channel as *const Channel as *mut c_void) };
    let progress: Arc<Shared> = Arc::default();
    spawn_terminator(control, isolate.stop_target(), Arc::clone(&progress));
    let heap = match limits.heap_limit {
        0 => isolate.heap_stats().limit as u64,
        limit => limit as u64,
    };
    report.v8_sandbox = engine::v8_sandboxed().unwrap_or(false);
    report.address_space_limit = sandbox::limit_address_space(heap);
    report.file_limits = sandbox::limit_files();
    report.no_new_privs = sandbox::set_no_new_privs();
    #[cfg(feature = "sandbox-probes")]
    let skip_seccomp = std::env::var_os(NO_SECCOMP_ENV).is_some();
    #[cfg(not(feature = "sandbox-probes"))]
    let skip_seccomp = false;
    if !skip_seccomp {
        if let Err(message) = sandbox::install_seccomp() {
            eprintln!("v8cage worker: {message}");
        } else {
            report.seccomp = true;
        }
    }
    let reply = Frame::reply().i32(0).tail(&report.encode(heap)).finish();
    if send_all(requests.as_fd(), &reply).is_err() {
        return 0;
    }
    loop {
        let (read, arrived) = {
            let mut reader = channel.reader.borrow_mut();
            if reader.buffer().is_empty() {
                poll_readable(requests.as_fd(), POLL_BEFORE_BLOCKING);
                // Blocks until a byte is really here: the spin above may
                // have ended empty-handed, and the clock must not start
                // while the worker waits for the host. An error or the end
                // of the stream is left to `read_frame`, which meets it again.
                let _ = reader.fill_buf();
            }
            // The request's first bytes are here: its timeout runs from now,
            // not from when a large source has been read in full.
            let arrived = Instant::now();
            (read_frame(&mut *reader, usize::MAX), arrived)
        };
        let body = match read {
            Ok(body) => body,
            // The host closed the channel: the context was dropped.
            Err(FrameError::Closed(_)) => return 0,
            Err(FrameError::Malformed(_)) => return EXIT_BAD_REQUEST,
        };
        let Ok(reply) = answer(&mut isolate, &body, &progress, arrived) else {
            return EXIT_BAD_REQUEST;
        };
        if send_all(requests.as_fd(), &reply).is_err() {
            return 0;
        }
    }
}

/// `limits` for an isolate in this worker, which the host can lose: the
/// heap-limit grace follows the limit (`V8CAGE_OPTION_CONTAINED`).
fn contained(mut limits: IsolateLimits) -> IsolateLimits {
    limits.options |= ffi::OPTION_CONTAINED;
    limits
}

/// Loads what V8 and ICU read lazily from files (time zone, locale data)
/// while files may still be opened, in a throwaway isolate.
fn warm_up() {
    let limits = IsolateLimits {
        heap_limit: 0,
        max_result_bytes: 1 << 20,
        max_depth: 10,
        options: 0,
        snapshot: None,
    };
    if let Ok(mut isolate) = LocalIsolate::new(&limits) {
        let script = "new Date(0).toString() + new Date(0).toLocaleString() + \
                      new Intl.DateTimeFormat().resolvedOptions().timeZone + \
                      (1234.5).toLocaleString() + 'a'.localeCompare('b') + \
                      new Intl.Collator().compare('a', 'b') + ''.normalize('NFKC')";
        let _ = isolate.run(&Job::Eval(script), &[], None);
    }
    // SAFETY: no arguments; V8 is initialised (LocalIsolate::new above).
    unsafe { ffi::v8cage_warm_up_for_sandbox() };
}

/// The largest CREATE frame: a snapshot's blob within 4 GiB.
const MAX_CREATE_FRAME: usize = 1 << 32;

fn create(reader: &mut BufReader<&UnixStream>) -> Result<(LocalIsolate, IsolateLimits), String> {
    // Small, unless it carries a snapshot.
    let body = read_frame(reader, MAX_CREATE_FRAME).map_err(|e| format!("{e:?}"))?;
    let mut f = Fields::new(&body);
    let parsed = (|| {
        if f.u8()? != kind::CREATE {
            return Err(FrameError::Malformed("expected CREATE".into()));
        }
        let limits = IsolateLimits {
            heap_limit: f.usize()?,
            max_result_bytes: f.usize()?,
            max_depth: f.u32()?,
            options: f.u32()?,
            snapshot: None,
        };
        let cpu_time_limit = f.duration()?;
        let snapshot = f.bytes()?;
        f.end()?;
        let limits = IsolateLimits {
            snapshot: (!snapshot.is_empty()).then(|| Snapshot::from_host(snapshot.to_vec())),
            ..limits
        };
        Ok((contained(limits), cpu_time_limit))
    })();
    let (limits, cpu_time_limit) = parsed.map_err(|e| format!("{e:?}"))?;
    // One context per worker: the spare made before "ready", if the limits
    // are the default ones, and no new spare after it.
    let mut isolate = crate::spare::isolate(&limits, false).map_err(|e| e.to_string())?;
    isolate.set_cpu_time_limit(cpu_time_limit);
    crate::spare::set_spare_contexts(0);
    Ok((isolate, limits))
}

/// The worker's end of the request socket, shared by the request loop and
/// the host functions of the running evaluation, which send their calls to
/// the host and read its answers in between.
struct Channel<'a> {
    requests: &'a UnixStream,
    reader: RefCell<BufReader<&'a UnixStream>>,
    // The last host function's answer, read by the shim right after.
    result: RefCell<Vec<u8>>,
}

impl Channel<'_> {
    /// Calls host function `id` on the host: (status, bytes) as
    /// `v8cage_host_call` returns them.
    fn call(&self, id: u32, args: &[u8]) -> (c_int, Vec<u8>) {
        let gone = || (1, b"the host is gone".to_vec());
        let frame = Frame::reply()
            .i32(STATUS_CALLBACK)
            .u32(id)
            .tail(args)
            .finish();
        if send_all(self.requests.as_fd(), &frame).is_err() {
            return gone();
        }
        let Ok(mut reader) = self.reader.try_borrow_mut() else {
            return gone();
        };
        let Ok(body) = read_frame(&mut *reader, usize::MAX) else {
            return gone();
        };
        let mut f = Fields::new(&body);
        let answer = (|| {
            if f.u8()? != kind::CALLBACK_REPLY {
                return Err(FrameError::Malformed("expected CALLBACK_REPLY".into()));
            }
            let status = f.i32()?;
            let bytes = f.bytes()?.to_vec();
            f.end()?;
            Ok((status, bytes))
        })();
        answer.unwrap_or_else(|_| gone())
    }
}

/// The shim's `v8cage_host_call` in a worker: forwards to the host.
///
/// # Safety
/// `data` is the `Channel` `serve` registered; `args` is valid for
/// `args_len` bytes; `result` is writable.
unsafe extern "C" fn call_host(
    data: *mut c_void,
    callback_id: u32,
    args: *const u8,
    args_len: usize,
    result: *mut ffi::Output,
) -> c_int {
    // SAFETY: see the function's contract; the channel is only read.
    let channel = unsafe { &*(data as *const Channel) };
    // SAFETY: the function's contract.
    let args = unsafe { crate::host::shim_bytes(args, args_len) };
    let (status, bytes) = channel.call(callback_id, args);
    let mut buffer = channel.result.borrow_mut();
    // SAFETY: the function's contract; `buffer` is kept until the next call.
    unsafe { crate::host::answer(&mut buffer, bytes, result) };
    status
}

/// Which evaluation may be stopped now, shared by the request loop and the
/// terminator thread.
#[derive(Default)]
struct Progress {
    /// The evaluation whose stop window is open; 0 when none is.
    running: u64,
    /// The latest evaluation that started.
    latest: u64,
}

type Shared = (Mutex<Progress>, Condvar);

/// Stops the evaluation the host names (by sequence number) when it asks on
/// the control socket. A request may arrive before its evaluation starts
/// (the control socket overtakes the request socket): it waits for it. A
/// request for an evaluation that already ended is dropped: `running`
/// changes only under the lock, so a late request never stops a later one.
fn spawn_terminator(control: UnixStream, target: Arc<StopTarget>, progress: Arc<Shared>) {
    let spawned = std::thread::Builder::new()
        .name("v8cage-terminator".into())
        .spawn(move || {
            let mut control = control;
            let mut seq = [0u8; 8];
            while std::io::Read::read_exact(&mut control, &mut seq).is_ok() {
                let seq = u64::from_le_bytes(seq);
                let (lock, started) = &*progress;
                let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
                while p.latest < seq {
                    p = started.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                if p.running == seq {
                    target.stop(ffi::STOP_TERMINATE);
                }
            }
        });
    if spawned.is_err() {
        eprintln!("v8cage worker: no terminator thread; terminate() falls back to the host's kill");
    }
}

/// Serves one request, which began to arrive at `arrived`; `Err` for a
/// request that does not parse.
fn answer(
    isolate: &mut LocalIsolate,
    body: &[u8],
    progress: &Shared,
    arrived: Instant,
) -> Result<Vec<u8>, FrameError> {
    let mut f = Fields::new(body);
    let request = f.u8()?;
    match request {
        kind::EVAL | kind::CALL | kind::CALL_FUNCTION | kind::HANDLE_OP => {
            let seq = f.u64()?;
            // What is left of the timeout after the request's transfer.
            let timeout = f.duration()?.map(|t| t.saturating_sub(arrived.elapsed()));
            let released = f.u32s()?;
            let job = match request {
                kind::EVAL => Job::Eval(f.str()?),
                kind::CALL => Job::Call(f.str()?, f.bytes()?),
                kind::CALL_FUNCTION => Job::CallFunction(f.u32()?, f.bytes()?),
                _ => Job::Handle(f.u32()? as c_int, f.u32()?, f.bytes()?),
            };
            f.end()?;
            let (lock, started) = progress;
            let window_open = || {
                let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
                p.running = seq;
                p.latest = p.latest.max(seq);
                started.notify_all();
            };
            let reply = match isolate.run_and_tell(&job, &released, timeout, window_open) {
                Ok((status, bytes)) => super::reply_frame(status, bytes),
                Err(e) => Frame::reply()
                    .i32(ffi::STATUS_INVALID)
                    .tail(&wire::encode_string(&e.to_string()))
                    .finish(),
            };
            lock.lock().unwrap_or_else(|e| e.into_inner()).running = 0;
            Ok(reply)
        }
        kind::HEAP_STATS => {
            let s = isolate.heap_stats();
            Ok(Frame::reply()
                .u64(s.used as u64)
                .u64(s.total as u64)
                .u64(s.limit as u64)
                .u64(s.external as u64)
                .finish())
        }
        kind::SET_MEMORY_LIMITS => {
            let (soft, hard) = (f.usize()?, f.usize()?);
            isolate.set_memory_limits(soft, hard);
            Ok(Frame::reply().finish())
        }
        kind::MEMORY_LIMITS_REACHED => {
            let (soft, hard) = isolate.memory_limits_reached();
            Ok(Frame::reply().u8(soft.into()).u8(hard.into()).finish())
        }
        kind::LOW_MEMORY => {
            isolate.low_memory_notification();
            Ok(Frame::reply().finish())
        }
        kind::TAKE_SNAPSHOT => Ok(match isolate.take_snapshot() {
            Ok(blob) => Frame::reply().i32(ffi::STATUS_OK).bytes(&blob).finish(),
            Err(e) => {
                let status = match e {
                    Error::Conversion(_) => ffi::STATUS_CONVERSION,
                    Error::InvalidInput(_) => ffi::STATUS_INVALID,
                    _ => ffi::STATUS_INTERNAL,
                };
                Frame::reply()
                    .i32(status)
                    .bytes(e.to_string().as_bytes())
                    .finish()
            }
        }),
        #[cfg(feature = "sandbox-probes")]
        kind::PROBE => {
            let (probe, host_pid) = (f.u8()?, f.u32()?);
            Ok(Frame::reply()
                .i32(super::probes::run(probe, host_pid))
                .finish())
        }
        _ => Err(FrameError::Malformed(format!("unknown request {request}"))),
    }
}
