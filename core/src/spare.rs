//! Warm spare isolates. Creating an isolate with its context is nearly all
//! of what a new [`Context`](crate::Context) costs (~1.5 ms); a spare made
//! ahead on a background thread turns that into a hand-over.
//!
//! One spare, for the limits asked for last: a caller creating contexts of
//! one kind finds one ready each time (taking it orders the next), and one
//! that never creates a context pays nothing. A spare is a fresh isolate
//! that nothing ran in. [`set_spare_contexts`]`(false)` frees it and makes
//! none from then on (memory pressure, or callers that want every isolate
//! created on their own thread and time).

use std::sync::{mpsc, Mutex};

use crate::local::{IsolateLimits, LocalIsolate};
use crate::Error;

struct Spares {
    enabled: bool,
    /// The spare, and the limits it was made with.
    ready: Option<(IsolateLimits, LocalIsolate)>,
    /// The maker thread's inbox (started by the first order).
    maker: Option<mpsc::Sender<IsolateLimits>>,
    /// The process the spare and the maker belong to (a forked child has
    /// neither, and cannot use V8 anyway).
    pid: u32,
}

impl Spares {
    fn has_spare_for(&self, limits: &IsolateLimits) -> bool {
        self.ready
            .as_ref()
            .is_some_and(|(made_for, _)| made_for == limits)
    }
}

static SPARES: Mutex<Spares> = Mutex::new(Spares {
    enabled: true,
    ready: None,
    maker: None,
    pid: 0,
});

fn spares() -> std::sync::MutexGuard<'static, Spares> {
    let mut spares = SPARES.lock().unwrap_or_else(|e| e.into_inner());
    if spares.pid != std::process::id() {
        // A parent's spare is not ours to dispose: forget it.
        std::mem::forget(spares.ready.take());
        spares.maker = None;
        spares.pid = std::process::id();
    }
    spares
}

/// An isolate with `limits`: the spare if it has them, otherwise a new one
/// made here. With `reorder`, a spare with the same limits is ordered for
/// the next caller.
pub(crate) fn isolate(limits: &IsolateLimits, reorder: bool) -> Result<LocalIsolate, Error> {
    let taken = {
        let mut spares = spares();
        match spares.ready.take() {
            Some((made_for, spare)) if made_for == *limits => Some(spare),
            other => {
                spares.ready = other;
                None
            }
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

/// Has a spare with `limits` made in the background, unless one is ready.
pub(crate) fn order(limits: &IsolateLimits) {
    let mut spares = spares();
    if !spares.enabled || spares.has_spare_for(limits) {
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

/// Makes the spare now, on this thread, unless one with `limits` is ready.
pub(crate) fn make_now(limits: &IsolateLimits) -> Result<(), Error> {
    if spares().has_spare_for(limits) {
        return Ok(());
    }
    let isolate = LocalIsolate::new(limits)?;
    offer(limits.clone(), isolate);
    Ok(())
}

/// Keeps `isolate` as the spare, if spares are on; the one it replaces (or
/// `isolate` itself) is disposed outside the lock.
fn offer(limits: IsolateLimits, isolate: LocalIsolate) {
    let unused = {
        let mut spares = spares();
        if spares.enabled {
            spares.ready.replace((limits, isolate)).map(|(_, old)| old)
        } else {
            Some(isolate)
        }
    };
    drop(unused);
}

fn make_spares(inbox: mpsc::Receiver<IsolateLimits>) {
    while let Ok(mut limits) = inbox.recv() {
        // Orders that piled up while the last spare was made: only the
        // newest counts.
        while let Ok(newer) = inbox.try_recv() {
            limits = newer;
        }
        {
            let spares = spares();
            if !spares.enabled || spares.has_spare_for(&limits) {
                continue;
            }
        }
        if let Ok(isolate) = LocalIsolate::new(&limits) {
            offer(limits, isolate);
        }
    }
}

/// Makes the spare for contexts with `options` now and returns once it is
/// ready: the next [`Context::new`](crate::Context::new) with the same
/// options is then a hand-over. Optional (the first context orders one by
/// itself); for a process context this is [`prestart_worker`](crate::prestart_worker).
pub fn prestart_context(options: &crate::ContextOptions) -> Result<(), Error> {
    match options.isolation {
        crate::Isolation::Process => crate::prestart_worker(),
        crate::Isolation::InProcess => make_now(&crate::context::isolate_limits(options)),
    }
}

/// Turns warm spare contexts on (the default) or off. Off frees the spare
/// isolate kept now and makes none until turned on again: for memory
/// pressure, or for callers that want each isolate made on their own
/// thread when they create the context. Spares never change what a context
/// does: a spare is a fresh isolate nothing ran in.
pub fn set_spare_contexts(enabled: bool) {
    let unused = {
        let mut spares = spares();
        spares.enabled = enabled;
        if enabled {
            None
        } else {
            spares.ready.take()
        }
    };
    drop(unused);
}
