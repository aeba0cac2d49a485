//! Ctrl-C while the main thread is inside V8.
//!
//! Python's SIGINT handler only runs on the main thread between bytecodes,
//! never while that thread is inside V8. The package gives us the read end of
//! a pipe registered with `signal.set_wakeup_fd`, into which Python's C-level
//! handler writes each signal's number. One thread reads it and stops the
//! evaluation the main thread is running; that evaluation then runs Python's
//! handler, which raises KeyboardInterrupt.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use v8cage::TerminateHandle;

const SIGINT: u8 = 2;

pub(crate) struct InterruptWatch {
    main_thread: ThreadId,
    /// The main thread's running evaluation, if any.
    running: Mutex<Option<TerminateHandle>>,
    /// A SIGINT arrived while `running` was set.
    interrupted: AtomicBool,
    /// Counts the evaluations begun (under `running`'s lock): a signal byte
    /// read during one evaluation never stops a later one.
    begun: AtomicU64,
    /// The read end of the wakeup pipe (non-blocking).
    pipe: std::fs::File,
}

impl InterruptWatch {
    /// Marks `handle`'s evaluation as the main thread's running one. Bytes
    /// still in the pipe are of signals that came before it: Python's
    /// handler ran for them (e.g. inside a host function) or runs at the
    /// caller's check right after this, so they must not stop it (seen
    /// under emulation: the byte of a Ctrl-C that Python had already raised
    /// in a host function, read late, stopped the `except` clause's eval).
    pub(crate) fn begin(&self, handle: TerminateHandle) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let mut stale = [0u8; 64];
        while matches!((&self.pipe).read(&mut stale), Ok(n) if n > 0) {}
        self.begun.fetch_add(1, Ordering::SeqCst);
        self.interrupted.store(false, Ordering::SeqCst);
        *running = Some(handle);
    }

    /// Ends the running evaluation: whether a SIGINT stopped it.
    pub(crate) fn end(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.interrupted.swap(false, Ordering::SeqCst)
    }

    /// Waits until the pipe has bytes (or is closed); false on an error.
    fn wait_readable(&self) -> bool {
        let mut poll = libc::pollfd {
            fd: self.pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd for the call; the fd is ours and open.
            let ready = unsafe { libc::poll(&mut poll, 1, -1) };
            if ready > 0 {
                return true;
            }
            if ready < 0
                && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                return false;
            }
        }
    }
}

static INTERRUPTS: OnceLock<InterruptWatch> = OnceLock::new();

pub(crate) fn main_thread_watch() -> Option<&'static InterruptWatch> {
    INTERRUPTS
        .get()
        .filter(|watch| watch.main_thread == std::thread::current().id())
}

/// Starts the Ctrl-C watcher on the read end of the wakeup pipe, which the
/// package made non-blocking (called once, from the main thread, by
/// `v8cage/__init__.py`).
#[pyfunction]
pub(crate) fn _watch_interrupts(read_fd: i32) -> PyResult<()> {
    use std::os::fd::FromRawFd;
    let main_thread = std::thread::current().id();
    if INTERRUPTS.get().is_some() {
        return Ok(());
    }
    // SAFETY: the package created this pipe for us and hands over its read
    // end; nothing else reads or closes it.
    let pipe = unsafe { std::fs::File::from_raw_fd(read_fd) };
    let watch = INTERRUPTS.get_or_init(|| InterruptWatch {
        main_thread,
        running: Mutex::new(None),
        interrupted: AtomicBool::new(false),
        begun: AtomicU64::new(0),
        pipe,
    });
    std::thread::Builder::new()
        .name("v8cage-ctrl-c".into())
        .spawn(move || {
            let mut signals = [0u8; 64];
            while watch.wait_readable() {
                let during = watch.begun.load(Ordering::SeqCst);
                let n = match (&watch.pipe).read(&mut signals) {
                    Ok(0) => break,
                    Ok(n) => n,
                    // Taken by `begin` first, or the signal landed on this thread.
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                        ) =>
                    {
                        continue
                    }
                    Err(_) => break,
                };
                if signals[..n].contains(&SIGINT) {
                    let running = watch.running.lock().unwrap_or_else(|e| e.into_inner());
                    let same_evaluation = watch.begun.load(Ordering::SeqCst) == during;
                    if let Some(handle) = running.as_ref().filter(|_| same_evaluation) {
                        watch.interrupted.store(true, Ordering::SeqCst);
                        handle.terminate();
                    }
                }
            }
        })
        .map_err(|e| PyValueError::new_err(format!("cannot start the Ctrl-C watcher: {e}")))?;
    Ok(())
}
