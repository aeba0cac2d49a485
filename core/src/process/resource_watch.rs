//! The bounds of worker processes the host keeps: one thread reads the
//! resident set (`/proc/<pid>/statm`) and, for a context with a CPU-time
//! limit, the CPU clock of every worker with an evaluation in flight every
//! few milliseconds, and kills a worker past a bound, which the evaluation
//! then reports as `Error::OutOfMemory` or `Error::CpuTimeLimit`.
//!
//! Why not only `RLIMIT_AS`: with pointer compression and the V8 sandbox
//! (the current V8), V8 reserves about a terabyte of address space up
//! front and places its heaps and ArrayBuffers inside it, so an address
//! space limit can no longer bound them; and `RLIMIT_AS` counts reserved,
//! not used, memory. Resident memory is what the machine pays for.
//!
//! The CPU bound is a backstop: the worker stops an evaluation at its
//! limit itself (the context survives), unless a builtin ignores the stop
//! request; the host then kills the worker once its CPU time, all its
//! threads together, passes twice the limit plus the kill grace.
//!
//! The watch costs one small file read (and a clock read) per worker per
//! tick while an evaluation runs; an evaluation costs a map entry (no
//! allocation, no wake-up while the thread is awake); after a second with
//! nothing to watch, the thread waits until there is.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::cpu_time::CpuClock;

/// How often the resident set of a running worker is read. A worker
/// allocating at ~2 GB/s gains about 10 MB between two reads.
const TICK: Duration = Duration::from_millis(5);

/// How far below its bound a worker is killed: what it may gain between a
/// read and the kill taking effect (a tick at several GB/s), so that its
/// peak stays within the bound (killed at the bound, an Intl loop peaked
/// 1 MiB over it).
const KILL_MARGIN: u64 = 32 << 20;

/// Which bound a worker passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    Memory,
    CpuTime,
}

/// What the watch does with a worker past a bound: `token` is what the
/// watch was started with (the evaluation's sequence number).
pub(crate) trait OverBound: Send + Sync {
    fn over_bound(&self, token: u64, bound: Bound);
}

/// The bounds one evaluation is watched for.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bounds {
    /// Resident bytes.
    pub memory: Option<u64>,
    /// CPU time of the whole worker, from the start of the watch.
    pub cpu_time: Option<Duration>,
}

struct Watched {
    pid: libc::pid_t,
    memory: Option<u64>,
    /// The worker's CPU clock, and its reading at which the bound is passed.
    cpu_time: Option<(CpuClock, Duration)>,
    target: Arc<dyn OverBound>,
    token: u64,
}

impl Watched {
    fn over(&self) -> Option<Bound> {
        let memory_over = self.memory.is_some_and(|bound| {
            resident_bytes(self.pid).is_some_and(|rss| rss > bound.saturating_sub(KILL_MARGIN))
        });
        let cpu_over = self
            .cpu_time
            .is_some_and(|(clock, over_at)| clock.used().is_some_and(|used| used >= over_at));
        match (memory_over, cpu_over) {
            (true, _) => Some(Bound::Memory),
            (false, true) => Some(Bound::CpuTime),
            (false, false) => None,
        }
    }
}

#[derive(Default)]
struct State {
    watched: BTreeMap<u64, Watched>,
    /// The thread waits without a timeout (nothing was watched for a
    /// while); only then does a new entry need to wake it.
    parked: bool,
}

#[derive(Default)]
struct Watch {
    state: Mutex<State>,
    wake: Condvar,
}

/// Ticks with nothing to watch before the thread parks: back-to-back
/// evaluations (microseconds apart) find it awake and need no wake-up.
const IDLE_TICKS_BEFORE_PARKING: u32 = 200;

static WATCH: OnceLock<Arc<Watch>> = OnceLock::new();
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn watch() -> &'static Arc<Watch> {
    WATCH.get_or_init(|| {
        let watch = Arc::new(Watch::default());
        let looked_after = Arc::clone(&watch);
        std::thread::Builder::new()
            .name("v8cage-resource-watch".into())
            .spawn(move || looked_after.run())
            .expect("starting the resource watch thread");
        watch
    })
}

impl Watch {
    fn run(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut idle_ticks = 0;
        loop {
            if state.watched.is_empty() {
                idle_ticks += 1;
                if idle_ticks > IDLE_TICKS_BEFORE_PARKING {
                    state.parked = true;
                    state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                    state.parked = false;
                    idle_ticks = 0;
                    continue;
                }
            } else {
                idle_ticks = 0;
                let over: Vec<(Arc<dyn OverBound>, u64, Bound)> = state
                    .watched
                    .values()
                    .filter_map(|w| Some((Arc::clone(&w.target), w.token, w.over()?)))
                    .collect();
                if !over.is_empty() {
                    drop(state);
                    // Outside the lock: the kill takes the worker's flight lock.
                    for (target, token, bound) in over {
                        target.over_bound(token, bound);
                    }
                    state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                    continue;
                }
            }
            state = self
                .wake
                .wait_timeout(state, TICK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Watches `pid` until dropped: within [`KILL_MARGIN`] of its memory
/// bound, or past its CPU time bound, `target` is told `token` (once per
/// tick until the guard is dropped).
pub(crate) struct Watching(u64);

pub(crate) fn start(
    pid: libc::pid_t,
    bounds: Bounds,
    target: Arc<dyn OverBound>,
    token: u64,
) -> Watching {
    let cpu_time = bounds.cpu_time.and_then(|bound| {
        let clock = CpuClock::of_process(pid)?;
        Some((clock, clock.used()?.saturating_add(bound)))
    });
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let watch = watch();
    let mut state = watch.state.lock().unwrap_or_else(|e| e.into_inner());
    state.watched.insert(
        id,
        Watched {
            pid,
            memory: bounds.memory,
            cpu_time,
            target,
            token,
        },
    );
    if state.parked {
        watch.wake.notify_one();
    }
    Watching(id)
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Some(watch) = WATCH.get() {
            watch
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .watched
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

// Miri cannot read /proc or call sysconf.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    struct Told(mpsc::Sender<Bound>, AtomicUsize);

    impl OverBound for Told {
        fn over_bound(&self, _token: u64, bound: Bound) {
            if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = self.0.send(bound);
            }
        }
    }

    fn memory(bound: u64) -> Bounds {
        Bounds {
            memory: Some(bound),
            cpu_time: None,
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
        let _within = start(me, memory(u64::MAX), within.clone(), 0);
        let watching = start(me, memory(1), over.clone(), 0);
        assert_eq!(
            over_rx.recv(),
            Ok(Bound::Memory),
            "the watch reports a process over its bound"
        );
        drop(watching);
        // The over-bound report came from a tick that also read the other
        // entry: it was within its bound then.
        assert!(within_rx.try_recv().is_err());
        assert_eq!(within.1.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_process_past_its_cpu_time_is_reported() {
        let me = std::process::id() as libc::pid_t;
        let (over_tx, over_rx) = mpsc::channel();
        let over = Arc::new(Told(over_tx, AtomicUsize::new(0)));
        let bounds = Bounds {
            memory: None,
            cpu_time: Some(Duration::from_millis(20)),
        };
        // The whole process's CPU time: the other tests' threads count too.
        let clock = CpuClock::of_process(me).unwrap();
        let before = clock.used().unwrap();
        let _watching = start(me, bounds, over.clone(), 0);
        // Spin until told, or far past the bound (a watch that never tells).
        while over_rx.try_recv().is_err() {
            assert!(clock.used().unwrap() - before < Duration::from_secs(5));
            std::hint::spin_loop();
        }
        assert!(clock.used().unwrap() - before >= Duration::from_millis(20));
    }

    #[test]
    fn the_bound_follows_the_heap_limit() {
        assert_eq!(bound_for_heap(64 << 20), (128 + 256) << 20);
        assert_eq!(bound_for_heap(u64::MAX), u64::MAX);
    }
}
