//! Warm spare isolates. Creating an isolate with its context is nearly all
//! of what a new [`Context`](crate::Context) costs (~1.5 ms); a spare made
//! ahead on a background thread turns that into a hand-over.
//!
//! Up to [`set_spare_contexts`]`(n)` spares (default 1), all for the limits
//! asked for last: a caller creating contexts of one kind finds them ready
//! (each one taken orders its replacement), and one that never creates a
//! context pays nothing. A spare is a fresh isolate nothing ran in. The
//! same count applies to the worker processes kept for process contexts
//! (`process::pool`). `n = 0` frees the spares and makes none (memory
//! pressure, or callers that want every isolate created on their own
//! thread and time, such as the fuzz harness).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use crate::local::{IsolateLimits, LocalIsolate};
use crate::Error;

/// How many spares to keep, in-process and as workers.
static SPARE_COUNT: AtomicUsize = AtomicUsize::new(1);

/// [`set_spare_contexts`]' count.
pub(crate) fn spare_count() -> usize {
    SPARE_COUNT.load(Ordering::Relaxed)
}

struct Spares {
    /// The spares, all made for `made_for`.
    ready: Vec<LocalIsolate>,
    made_for: Option<IsolateLimits>,
    /// The maker thread's inbox (started by the first order).
    maker: Option<mpsc::Sender<IsolateLimits>>,
    /// The process the spares and the maker belong to (a forked child has
    /// none of them, and cannot use V8 anyway).
    pid: u32,
}

impl Spares {
    /// Whether one more spare with `limits` would be kept.
    fn wants_one_for(&self, limits: &IsolateLimits) -> bool {
        let count = spare_count();
        count > 0 && (self.made_for.as_ref() != Some(limits) || self.ready.len() < count)
    }
}

static SPARES: Mutex<Spares> = Mutex::new(Spares {
    ready: Vec::new(),
    made_for: None,
    maker: None,
    pid: 0,
});

fn spares() -> std::sync::MutexGuard<'static, Spares> {
    let mut spares = SPARES.lock().unwrap_or_else(|e| e.into_inner());
    if spares.pid != std::process::id() {
        // A parent's spares are not ours to dispose: forget them.
        std::mem::forget(std::mem::take(&mut spares.ready));
        spares.made_for = None;
        spares.maker = None;
        spares.pid = std::process::id();
    }
    spares
}

/// An isolate with `limits`: a spare if there is one for them, otherwise a
/// new one made here. With `reorder`, spares with the same limits are
/// ordered for the next callers.
pub(crate) fn isolate(limits: &IsolateLimits, reorder: bool) -> Result<LocalIsolate, Error> {
    let taken = {
        let mut spares = spares();
        if spares.made_for.as_ref() == Some(limits) {
            spares.ready.pop()
        } else {
            None
        }
    };
    let isolate = match taken {
        Some(spare) => spare,
        None => LocalIsolate::new(limits)?,
    };
    if reorder {
        order(limits);
    }
    Ok(isolate)
}

/// How many spare isolates are kept now.
#[cfg(feature = "spare-counts")]
pub(crate) fn spares_kept() -> usize {
    spares().ready.len()
}

/// Has spares with `limits` made in the background, up to the count.
pub(crate) fn order(limits: &IsolateLimits) {
    let mut spares = spares();
    if !spares.wants_one_for(limits) {
        return;
    }
    if spares.maker.is_none() {
        let (orders, inbox) = mpsc::channel();
        let started = std::thread::Builder::new()
            .name("v8cage-spares".into())
            .spawn(move || make_spares(inbox));
        if started.is_err() {
            return; // no spares then; contexts are made on demand
        }
        spares.maker = Some(orders);
    }
    if let Some(maker) = &spares.maker {
        let _ = maker.send(limits.clone());
    }
}

/// Makes the spares with `limits` now, on this thread, up to the count.
pub(crate) fn make_now(limits: &IsolateLimits) -> Result<(), Error> {
    while spares().wants_one_for(limits) {
        offer(limits, LocalIsolate::new(limits)?);
    }
    Ok(())
}

/// Keeps `isolate` as a spare if one more is wanted; spares made for other
/// limits (or `isolate` itself) are disposed outside the lock.
fn offer(limits: &IsolateLimits, isolate: LocalIsolate) {
    let unused = {
        let mut spares = spares();
        if !spares.wants_one_for(limits) {
            vec![isolate]
        } else {
            let mut replaced = Vec::new();
            if spares.made_for.as_ref() != Some(limits) {
                replaced = std::mem::take(&mut spares.ready);
                spares.made_for = Some(limits.clone());
            }
            spares.ready.push(isolate);
            replaced
        }
    };
    drop(unused);
}

fn make_spares(inbox: mpsc::Receiver<IsolateLimits>) {
    while let Ok(mut limits) = inbox.recv() {
        // Orders that piled up while spares were made: only the newest
        // counts.
        while let Ok(newer) = inbox.try_recv() {
            limits = newer;
        }
        while spares().wants_one_for(&limits) {
            match LocalIsolate::new(&limits) {
                Ok(isolate) => offer(&limits, isolate),
                Err(_) => break,
            }
        }
    }
}

/// Makes the spares for contexts with `options` now and returns once they
/// are ready: the next [`Context::new`](crate::Context::new) calls with the
/// same options (as many as the spare count) are then hand-overs. Optional
/// (the first context orders spares by itself); for a process context this
/// is [`prestart_worker`](crate::prestart_worker). With the count at 0 it
/// makes nothing.
pub fn prestart_context(options: &crate::ContextOptions) -> Result<(), Error> {
    match options.isolation {
        crate::Isolation::Process => crate::prestart_worker(),
        crate::Isolation::InProcess => make_now(&crate::context::isolate_limits(options)),
    }
}

/// Keeps `n` warm spares (default 1): fresh isolates for in-process
/// contexts with the limits asked for last, and started worker processes
/// for process contexts. 0 frees the spares kept now and makes none: for
/// memory pressure, or for callers that want each isolate made on their
/// own thread when they create the context. Spares never change what a
/// context does: a spare is a fresh isolate nothing ran in.
pub fn set_spare_contexts(n: usize) {
    SPARE_COUNT.store(n, Ordering::Relaxed);
    let unused = {
        let mut spares = spares();
        let keep = spares.ready.len().min(n);
        spares.ready.split_off(keep)
    };
    drop(unused);
    crate::process::keep_spare_workers(n);
}
