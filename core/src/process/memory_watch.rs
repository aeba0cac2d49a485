//! The memory bound of worker processes, kept by the host: one thread reads
//! the resident set (`/proc/<pid>/statm`) of every worker with an
//! evaluation in flight every few milliseconds and kills a worker past its
//! bound, which the evaluation then reports as `Error::OutOfMemory`.
//!
//! Why not only `RLIMIT_AS`: with pointer compression and the V8 sandbox
//! (the current V8), V8 reserves about a terabyte of address space up
//! front and places its heaps and ArrayBuffers inside it, so an address
//! space limit can no longer bound them; and `RLIMIT_AS` counts reserved,
//! not used, memory. Resident memory is what the machine pays for.
//!
//! The watch costs nothing while no evaluation runs (the thread waits), and
//! one small file read per worker per tick while one does.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// How often the resident set of a running worker is read. A worker
/// allocating at ~2 GB/s gains about 10 MB between two reads.
const TICK: Duration = Duration::from_millis(5);

/// What the watch does with a worker past its bound.
pub(crate) trait OverBound: Send + Sync {
    fn over_bound(&self);
}

struct Watched {
    pid: libc::pid_t,
    bound: u64,
    target: Arc<dyn OverBound>,
}

#[derive(Default)]
struct Watch {
    watched: Mutex<BTreeMap<u64, Watched>>,
    wake: Condvar,
}

static WATCH: OnceLock<Arc<Watch>> = OnceLock::new();
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn watch() -> &'static Arc<Watch> {
    WATCH.get_or_init(|| {
        let watch = Arc::new(Watch::default());
        let looked_after = Arc::clone(&watch);
        std::thread::Builder::new()
            .name("v8cage-memory-watch".into())
            .spawn(move || looked_after.run())
            .expect("starting the memory watch thread");
        watch
    })
}

impl Watch {
    fn run(&self) {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if watched.is_empty() {
                watched = self.wake.wait(watched).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let over: Vec<Arc<dyn OverBound>> = watched
                .values()
                .filter(|w| resident_bytes(w.pid).is_some_and(|rss| rss > w.bound))
                .map(|w| Arc::clone(&w.target))
                .collect();
            if !over.is_empty() {
                drop(watched);
                // Outside the lock: the kill takes the worker's flight lock.
                for target in over {
                    target.over_bound();
                }
                watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            watched = self
                .wake
                .wait_timeout(watched, TICK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Watches `pid` until dropped: past `bound` resident bytes, `target` is told
/// (once per tick until the guard is dropped).
pub(crate) struct Watching(u64);

pub(crate) fn start(pid: libc::pid_t, bound: u64, target: Arc<dyn OverBound>) -> Watching {
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let watch = watch();
    let mut watched = watch.watched.lock().unwrap_or_else(|e| e.into_inner());
    watched.insert(id, Watched { pid, bound, target });
    if watched.len() == 1 {
        watch.wake.notify_one();
    }
    Watching(id)
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Some(watch) = WATCH.get() {
            watch
                .watched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.0);
        }
    }
}

/// The resident set of `pid` in bytes (`/proc/<pid>/statm`, second field,
/// in pages); `None` once the process is gone.
pub(crate) fn resident_bytes(pid: libc::pid_t) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages.saturating_mul(page_size()))
}

fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf only reads a system constant.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(size).unwrap_or(4096)
    })
}

/// The resident bytes a worker may use: its heap twice over (V8 copies
/// while it collects) plus 256 MiB for V8 itself, ICU, code, stacks and
/// small wasm memories.
pub(crate) fn bound_for_heap(heap_limit: u64) -> u64 {
    heap_limit.saturating_mul(2).saturating_add(256 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    struct Told(mpsc::Sender<()>, AtomicUsize);

    impl OverBound for Told {
        fn over_bound(&self) {
            if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = self.0.send(());
            }
        }
    }

    #[test]
    fn this_process_reads_as_resident() {
        let rss = resident_bytes(std::process::id() as libc::pid_t).expect("our own statm");
        assert!(rss > 1 << 20, "{rss}");
        assert_eq!(resident_bytes(-1), None);
    }

    #[test]
    fn a_process_past_its_bound_is_reported_and_one_within_is_not() {
        let me = std::process::id() as libc::pid_t;
        let (over_tx, over_rx) = mpsc::channel();
        let over = Arc::new(Told(over_tx, AtomicUsize::new(0)));
        let (within_tx, within_rx) = mpsc::channel();
        let within = Arc::new(Told(within_tx, AtomicUsize::new(0)));
        let _within = start(me, u64::MAX, within.clone());
        let watching = start(me, 1, over.clone());
        over_rx
            .recv()
            .expect("the watch reports a process over its bound");
        drop(watching);
        // The over-bound report came from a tick that also read the other
        // entry: it was within its bound then.
        assert!(within_rx.try_recv().is_err());
        assert_eq!(within.1.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_bound_follows_the_heap_limit() {
        assert_eq!(bound_for_heap(64 << 20), (128 + 256) << 20);
        assert_eq!(bound_for_heap(u64::MAX), u64::MAX);
    }
}
