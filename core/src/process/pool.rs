//! Starting workers: which executable, with which channel, and spares
//! started ahead (as many as `set_spare_contexts` says, default one) so
//! creating a process context costs little.
//!
//! Every worker is spawned by one long-lived pool thread: a worker is killed
//! (`PR_SET_PDEATHSIG`) when the *thread* that spawned it ends, so spawning
//! from a caller's short-lived thread would kill its worker with it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, PipeReader};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::protocol::{read_frame, FrameError};
use super::worker::{CHANNEL_ENV, FLAGS_ENV};
use crate::{engine, Error};

/// The environment variable naming the worker executable when
/// [`set_worker_command`] was not called: any program that links v8cage.
pub const WORKER_ENV: &str = "V8CAGE_WORKER";

static WORKER_COMMAND: Mutex<Option<(PathBuf, Vec<OsString>)>> = Mutex::new(None);

/// Sets the command that starts a worker process: any program linking
/// v8cage (Rust) or loading its Python extension, which v8cage's start-up
/// hook turns into a worker. Without it, `$V8CAGE_WORKER`, else the running
/// executable itself. Applies to workers started afterwards.
pub fn set_worker_command(program: impl Into<PathBuf>, args: Vec<OsString>) {
    *WORKER_COMMAND.lock().unwrap_or_else(|e| e.into_inner()) = Some((program.into(), args));
}

fn worker_command() -> io::Result<(PathBuf, Vec<OsString>)> {
    if let Some(command) = WORKER_COMMAND
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
    {
        return Ok(command);
    }
    match std::env::var_os(WORKER_ENV) {
        Some(program) => Ok((program.into(), Vec::new())),
        None => Ok((std::env::current_exe()?, Vec::new())),
    }
}

/// A started worker process and the host's ends of its channel.
pub(crate) struct Worker {
    pub(crate) child: Child,
    pub(crate) requests: UnixStream,
    pub(crate) control: UnixStream,
    /// The worker's stderr: its last words when it dies.
    pub(crate) stderr: PipeReader,
    /// The process that started it: only that one may kill and reap it.
    owner_pid: u32,
    /// Whether its "ready" frame (V8 started) was read already.
    pub(crate) ready: bool,
    /// Set once it is reaped: its pid may belong to another process then.
    reaped: Option<Reaped>,
}

/// How a worker ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reaped {
    pub(crate) status: std::process::ExitStatus,
    /// The most memory it ever had resident, in bytes (`ru_maxrss`).
    pub(crate) peak_resident: u64,
}

impl Worker {
    /// Waits for the worker's "ready" frame (V8 started in it).
    pub(crate) fn wait_ready(&mut self) -> Result<(), FrameError> {
        if !self.ready {
            let body = read_frame(&mut &self.requests, 0)?;
            debug_assert!(body.is_empty());
            self.ready = true;
        }
        Ok(())
    }

    /// Kills the worker (if still running) and reaps it.
    pub(crate) fn kill_and_reap(&mut self) -> Option<Reaped> {
        if std::process::id() != self.owner_pid {
            return None;
        }
        if self.reaped.is_none() {
            let _ = self.child.kill();
            self.reaped = reap(self.child.id());
        }
        self.reaped
    }
}

/// Waits for the child `pid` with `wait4`, not `Child::wait`: its resource
/// usage holds the child's peak resident memory, which `/proc` no longer
/// shows once it is dead.
fn reap(pid: u32) -> Option<Reaped> {
    use std::os::unix::process::ExitStatusExt;
    let pid = libc::pid_t::try_from(pid).ok()?;
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are live locals the call fills in;
        // `pid` is this process's own unreaped child.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        if reaped < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return None;
    }
    Some(Reaped {
        status: std::process::ExitStatus::from_raw(status),
        // Kilobytes on Linux.
        peak_resident: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
    })
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

type Env = Vec<(OsString, OsString)>;

enum Job {
    /// Start spares up to the count.
    Refill,
    /// Start spares up to the count, and tell when they are ready.
    Prestart(mpsc::Sender<()>),
    /// Start a worker for a caller waiting on the sender.
    /// A worker with extra environment variables and extra V8 flags.
    Spawn(Env, String, mpsc::Sender<io::Result<Worker>>),
}

struct Pool {
    pid: u32,
    /// Started workers, oldest (longest head start) first.
    spares: Mutex<VecDeque<Worker>>,
    jobs: Mutex<mpsc::Sender<Job>>,
}

static POOL: Mutex<Option<Arc<Pool>>> = Mutex::new(None);

/// This process's pool. A child forked from a process with a pool gets a
/// new one: the parent's spare and pool thread are the parent's.
fn pool() -> Result<Arc<Pool>, Error> {
    let mut slot = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pool) = ours(&slot) {
        return Ok(pool);
    }
    let flags = engine::flags_for_workers();
    let (jobs, inbox) = mpsc::channel::<Job>();
    let pool = Arc::new(Pool {
        pid: std::process::id(),
        spares: Mutex::new(VecDeque::new()),
        jobs: Mutex::new(jobs),
    });
    let weak = Arc::downgrade(&pool);
    std::thread::Builder::new()
        .name("v8cage-workers".into())
        .spawn(move || {
            for job in inbox {
                match job {
                    Job::Spawn(env, extra_flags, reply) => {
                        let flags = format!("{flags} {extra_flags}");
                        let _ = reply.send(spawn(flags.trim(), &env));
                    }
                    Job::Refill => {
                        let Some(pool) = weak.upgrade() else { return };
                        pool.refill(&flags);
                    }
                    Job::Prestart(done) => {
                        let Some(pool) = weak.upgrade() else { return };
                        pool.prestart(&flags);
                        let _ = done.send(());
                    }
                }
            }
        })
        .map_err(|e| Error::Engine(format!("cannot start the worker pool thread: {e}")))?;
    // The old pool (a parent's, after fork) is dropped here: its spare's
    // descriptors close, and its process is left to its owner.
    *slot = Some(Arc::clone(&pool));
    Ok(pool)
}

/// The pool in `slot` if this process started it (not a parent's).
fn ours(slot: &Option<Arc<Pool>>) -> Option<Arc<Pool>> {
    slot.as_ref()
        .filter(|p| p.pid == std::process::id())
        .map(Arc::clone)
}

/// This process's pool if it runs already (none is started).
fn running_pool() -> Option<Arc<Pool>> {
    ours(&POOL.lock().unwrap_or_else(|e| e.into_inner()))
}

impl Pool {
    fn spares(&self) -> std::sync::MutexGuard<'_, VecDeque<Worker>> {
        self.spares.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts spares up to the count. They are handed out at once, while V8
    /// may still be starting in them: whoever takes one waits for its ready
    /// frame, with the head start it had.
    fn refill(&self, flags: &str) {
        while self.spares().len() < crate::spare::spare_count() {
            let Ok(worker) = spawn(flags, &[]) else {
                return;
            };
            let mut spares = self.spares();
            // The count may have dropped while it started.
            if spares.len() < crate::spare::spare_count() {
                spares.push_back(worker);
            }
        }
    }

    /// [`Pool::refill`], then waits until V8 runs in every spare.
    fn prestart(&self, flags: &str) {
        self.refill(flags);
        let mut waiting = std::mem::take(&mut *self.spares());
        waiting.retain_mut(|worker| worker.wait_ready().is_ok());
        let mut spares = self.spares();
        // Spares taken meanwhile were replaced by the refill they ordered.
        while spares.len() < crate::spare::spare_count() {
            let Some(ready) = waiting.pop_front() else {
                break;
            };
            spares.push_back(ready);
        }
    }

    fn send(&self, job: Job) -> Result<(), Error> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| Error::Engine("the worker pool thread is gone".into()))
    }

    fn spawn(&self, env: Env, extra_flags: &str) -> Result<Worker, Error> {
        let (reply, answer) = mpsc::channel();
        self.send(Job::Spawn(env, extra_flags.to_owned(), reply))?;
        answer
            .recv()
            .map_err(|_| Error::Engine("the worker pool thread is gone".into()))?
            .map_err(|e| Error::Engine(format!("cannot start a worker process: {e}")))
    }
}

/// A started worker: a spare if there is one (and a new spare is
/// ordered), otherwise a new one.
pub(crate) fn take() -> Result<Worker, Error> {
    let pool = pool()?;
    let spare = pool.spares().pop_front();
    let worker = match spare {
        Some(worker) => worker,
        None => pool.spawn(Vec::new(), "")?,
    };
    pool.send(Job::Refill)?;
    Ok(worker)
}

/// Starts spare worker processes now, up to the spare count (see
/// [`set_spare_contexts`](crate::set_spare_contexts)), and returns once V8
/// runs in them: the next process-isolated [`Context`](crate::Context)
/// then costs about what an in-process one does. Optional: the first
/// process context starts the pool, which keeps the spares from then on.
pub fn prestart_worker() -> Result<(), Error> {
    let (done, wait) = mpsc::channel();
    pool()?.send(Job::Prestart(done))?;
    wait.recv()
        .map_err(|_| Error::Engine("the worker pool thread is gone".into()))
}

/// How many spare workers are kept now (0 where no pool runs).
#[cfg(feature = "spare-counts")]
pub(crate) fn spare_workers_kept() -> usize {
    running_pool().map_or(0, |p| p.spares().len())
}

/// The spare count changed to `n`: spares over it are killed now, and
/// missing ones started (only where the pool runs already).
pub(crate) fn keep_spare_workers(n: usize) {
    let Some(pool) = running_pool() else { return };
    let unused = {
        let mut spares = pool.spares();
        let keep = spares.len().min(n);
        spares.split_off(keep)
    };
    drop(unused);
    let _ = pool.send(Job::Refill);
}

/// A new worker with extra environment variables (not from the spare).
#[cfg(feature = "sandbox-probes")]
pub(crate) fn spawn_with_env(env: Env) -> Result<Worker, Error> {
    pool()?.spawn(env, "")
}

/// A new worker whose V8 also gets `extra_flags` (not from the spare).
pub(crate) fn spawn_with_flags(extra_flags: &str) -> Result<Worker, Error> {
    pool()?.spawn(Vec::new(), extra_flags)
}

/// A sanitizer's options as the host has them, plus `symbolize=0`: a
/// sanitizer report inside a sandboxed worker cannot start its external
/// symbolizer (exec is refused, and the attempt is a SIGSYS in place of the
/// report), while module-based suppressions (`race:libnode.so`) and
/// unsymbolized reports still work. Only set where the host runs under a
/// sanitizer job.
fn unsymbolized_sanitizer_options() -> Vec<(&'static str, String)> {
    [
        "ASAN_OPTIONS",
        "TSAN_OPTIONS",
        "MSAN_OPTIONS",
        "UBSAN_OPTIONS",
    ]
    .into_iter()
    .filter_map(|name| {
        let options = std::env::var(name).ok()?;
        Some((name, format!("{options}:symbolize=0")))
    })
    .collect()
}

fn spawn(flags: &str, env: &[(OsString, OsString)]) -> io::Result<Worker> {
    // Keeps the worker's start-up hook in every binary that can start a
    // worker: the linker drops archive members nothing refers to, and the
    // hook's module is otherwise referred to by nobody.
    std::hint::black_box(super::worker::START_UP_HOOK);
    let (host_requests, worker_requests) = UnixStream::pair()?;
    let (host_control, worker_control) = UnixStream::pair()?;
    let (stderr, stderr_writer) = io::pipe()?;
    let (program, args) = worker_command()?;
    let channel_fds = [worker_requests.as_raw_fd(), worker_control.as_raw_fd()];
    let parent = std::process::id();
    let mut command = Command::new(program);
    command
        .args(args)
        .env(
            CHANNEL_ENV,
            format!("{},{}", channel_fds[0], channel_fds[1]),
        )
        .env(FLAGS_ENV, flags)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .envs(unsymbolized_sanitizer_options())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_writer)
        // A group of its own: a terminal's Ctrl-C (sent to the foreground
        // group) reaches the host, which decides what it stops; the worker
        // still dies with the host (PR_SET_PDEATHSIG below).
        .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (fcntl, prctl, getppid, _exit); it
    // allocates nothing.
    unsafe {
        command.pre_exec(move || {
            for fd in channel_fds {
                // The channel (opened close-on-exec) is the one thing the worker inherits.
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The host died before the line above: nobody would kill us.
            if libc::getppid() as u32 != parent {
                libc::_exit(0);
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    Ok(Worker {
        child,
        requests: host_requests,
        control: host_control,
        stderr,
        owner_pid: parent,
        ready: false,
        reaped: None,
    })
}
