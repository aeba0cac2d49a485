//! Ctrl-C while the main thread is inside V8.
//!
//! Python's SIGINT handler only runs on the main thread between bytecodes,
//! never while that thread is inside V8. The package gives us the read end of
//! a pipe registered with `signal.set_wakeup_fd`, into which Python's C-level
//! handler writes each signal's number. One thread reads it and stops the
//! evaluation the main thread is running; that evaluation then runs Python's
//! handler, which raises KeyboardInterrupt.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use v8cage::TerminateHandle;

const SIGINT: u8 = 2;

pub(crate) struct InterruptWatch {
    main_thread: ThreadId,
    /// The main thread's running evaluation, if any.
    pub(crate) running: Mutex<Option<TerminateHandle>>,
    /// A SIGINT arrived while `running` was set.
    pub(crate) interrupted: AtomicBool,
}

static INTERRUPTS: OnceLock<InterruptWatch> = OnceLock::new();

pub(crate) fn main_thread_watch() -> Option<&'static InterruptWatch> {
    INTERRUPTS
        .get()
        .filter(|watch| watch.main_thread == std::thread::current().id())
}

/// Starts the Ctrl-C watcher on the read end of the wakeup pipe (called once,
/// from the main thread, by `v8cage/__init__.py`).
#[pyfunction]
pub(crate) fn _watch_interrupts(read_fd: i32) -> PyResult<()> {
    use std::os::fd::FromRawFd;
    let main_thread = std::thread::current().id();
    if INTERRUPTS.get().is_some() {
        return Ok(());
    }
    // SAFETY: the package created this pipe for us and hands over its read
    // end; nothing else reads or closes it.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(read_fd) };
    let watch = INTERRUPTS.get_or_init(|| InterruptWatch {
        main_thread,
        running: Mutex::new(None),
        interrupted: AtomicBool::new(false),
    });
    std::thread::Builder::new()
        .name("v8cage-ctrl-c".into())
        .spawn(move || {
            let mut signals = [0u8; 64];
            loop {
                let n = match pipe.read(&mut signals) {
                    Ok(0) => break,
                    Ok(n) => n,
                    // The signal itself may land on this thread and interrupt the read.
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if signals[..n].contains(&SIGINT) {
                    let running = watch.running.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(handle) = running.as_ref() {
                        watch.interrupted.store(true, Ordering::SeqCst);
                        handle.terminate();
                    }
                }
            }
        })
        .map_err(|e| PyValueError::new_err(format!("cannot start the Ctrl-C watcher: {e}")))?;
    Ok(())
}
