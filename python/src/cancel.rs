//! One cancelable call (`v8cage._objects.run_cancelable`, behind
//! `eval_cancelable`, `eval_async`, cancelable functions): cancelled before
//! its evaluation starts, the evaluation never starts; cancelled while it
//! runs, it is terminated.
//!
//! A plain `Context.terminate()` does nothing when no JavaScript runs yet (so
//! that a late one cannot stop the next evaluation). A cancellation that
//! arrives while the worker thread is still on its way into the context
//! would be lost, and the evaluation (say `for (;;) {}` without a timeout)
//! would run forever: under emulation the thread took longer than a 50 ms
//! `asyncio.wait_for`, and the test suite hung.

use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::prelude::*;
use v8cage::{Error, TerminateHandle};

/// How often a cancelled call that is still running is terminated again: a
/// terminate that lands before its JavaScript starts has no effect.
const TERMINATE_AGAIN_AFTER: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Phase {
    cancelled: bool,
    /// The call holds its context (set and cleared under the context's
    /// mutex): a terminate now can only stop this call.
    running: bool,
}

pub(crate) struct CallStop {
    phase: Mutex<Phase>,
    finished: Condvar,
    stop: TerminateHandle,
}

impl CallStop {
    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called with the context's mutex held, before the evaluation; drop
    /// the guard with the mutex still held, after it (also on a panic, or
    /// the canceller would terminate for ever).
    pub(crate) fn begin(&self) -> Result<Running<'_>, Error> {
        let mut phase = self.phase();
        if phase.cancelled {
            return Err(Error::Terminated);
        }
        phase.running = true;
        Ok(Running(self))
    }

    fn terminate_until_finished(&self) {
        let mut phase = self.phase();
        while phase.running {
            self.stop.terminate();
            phase = self
                .finished
                .wait_timeout(phase, TERMINATE_AGAIN_AFTER)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// An evaluation of a cancelable call in progress ([`CallStop::begin`]).
pub(crate) struct Running<'a>(&'a CallStop);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.phase().running = false;
        self.0.finished.notify_all();
    }
}

thread_local! {
    /// The cancelable call this thread is making (`Cancellation.run`).
    static CURRENT: RefCell<Option<Arc<CallStop>>> = const { RefCell::new(None) };
}

/// The cancelable call this thread is making, taken for one evaluation (so
/// that a context a host function calls meanwhile does not see it); give it
/// back with [`restore`].
pub(crate) fn take_current() -> Option<Arc<CallStop>> {
    CURRENT.with(|current| current.borrow_mut().take())
}

pub(crate) fn restore(call: Option<Arc<CallStop>>) {
    if call.is_some() {
        CURRENT.with(|current| *current.borrow_mut() = call);
    }
}

/// `Context._cancellation()`: what `run_cancelable` runs a call through.
#[pyclass(frozen, module = "v8cage._v8cage", name = "Cancellation")]
pub(crate) struct Cancellation(Arc<CallStop>);

impl Cancellation {
    pub(crate) fn new(stop: TerminateHandle) -> Cancellation {
        Cancellation(Arc::new(CallStop {
            phase: Mutex::default(),
            finished: Condvar::new(),
            stop,
        }))
    }
}

#[pymethods]
impl Cancellation {
    /// Calls `work()` on this thread; the context's evaluations it makes are
    /// the ones `cancel()` stops.
    fn run(&self, work: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let outer = CURRENT.with(|current| current.borrow_mut().replace(self.0.clone()));
        let result = work.call0();
        CURRENT.with(|current| *current.borrow_mut() = outer);
        result.map(Bound::unbind)
    }

    /// Evaluations not started yet never start (they raise
    /// JSTerminatedError); a running one is terminated. Returns at once.
    fn cancel(&self) -> PyResult<()> {
        let running = {
            let mut phase = self.0.phase();
            phase.cancelled = true;
            phase.running
        };
        if running {
            let call = self.0.clone();
            std::thread::Builder::new()
                .name("v8cage-cancel".into())
                .spawn(move || call.terminate_until_finished())?;
        }
        Ok(())
    }
}
