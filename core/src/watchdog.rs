//! One process-wide watchdog thread enforces every context's timeout.
//!
//! Arming is a map insert under a mutex (no thread per evaluation, which was
//! measured to cut throughput ~30x); the thread sleeps until the earliest
//! deadline and asks that evaluation to stop.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What a deadline does when it passes: stop an in-process evaluation, or
/// kill a worker process that did not answer in time.
pub(crate) trait OnDeadline: Send + Sync {
    fn expire(&self);
}

struct Watchdog {
    deadlines: Mutex<Deadlines>,
    wake: Condvar,
    /// Signalled when the watchdog has finished stopping what it took out.
    fired: Condvar,
}

#[derive(Default)]
struct Deadlines {
    by_time: BTreeMap<(Instant, u64), Arc<dyn OnDeadline>>,
    /// Deadlines the watchdog took out and is stopping right now (outside
    /// the lock). Disarming one of these waits until it is done: otherwise
    /// the stop could land after its evaluation ended, in the next one's
    /// window, and time out an evaluation with an hour left (found by
    /// `timeout::an_expired_deadline_never_stops_a_later_evaluation` under
    /// TSan and UBSan).
    firing: Vec<(Instant, u64)>,
    next_id: u64,
    /// When the watchdog will wake by itself; `None` while it waits for work.
    /// Arming a later deadline needs no wake-up (the common case: it wakes,
    /// finds the earlier evaluations disarmed, and sleeps again).
    wakes_at: Option<Instant>,
}

/// Disarms its deadline when dropped.
pub(crate) struct Armed {
    key: (Instant, u64),
}

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(|| {
        let dog: &'static Watchdog = Box::leak(Box::new(Watchdog {
            deadlines: Mutex::new(Deadlines::default()),
            wake: Condvar::new(),
            fired: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("v8cage-watchdog".into())
            .spawn(move || dog.run())
            .expect("spawn the v8cage watchdog thread");
        dog
    })
}

/// Calls `target.expire()` once `timeout` passes, unless the returned guard
/// is dropped first.
pub(crate) fn arm(target: Arc<dyn OnDeadline>, timeout: Duration) -> Armed {
    let dog = watchdog();
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
    let mut d = dog.deadlines.lock().unwrap_or_else(|e| e.into_inner());
    d.next_id += 1;
    let key = (deadline, d.next_id);
    d.by_time.insert(key, target);
    let must_wake = d.wakes_at.is_none_or(|at| deadline < at);
    if must_wake {
        d.wakes_at = Some(deadline);
    }
    drop(d);
    if must_wake {
        dog.wake.notify_one();
    }
    Armed { key }
}

impl Drop for Armed {
    /// Disarms the deadline; if the watchdog is firing it at this moment,
    /// waits until that stop request has been delivered.
    fn drop(&mut self) {
        let dog = watchdog();
        let mut d = dog.deadlines.lock().unwrap_or_else(|e| e.into_inner());
        d.by_time.remove(&self.key);
        while d.firing.contains(&self.key) {
            d = dog.fired.wait(d).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Watchdog {
    fn run(&self) {
        let mut d = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            {
                let deadlines = &mut *d;
                while let Some(entry) = deadlines.by_time.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    deadlines.firing.push(*entry.key());
                    due.push(entry.remove());
                }
            }
            if !due.is_empty() {
                drop(d);
                for target in due {
                    target.expire();
                }
                d = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
                d.firing.clear();
                self.fired.notify_all();
                continue;
            }
            let next = d.by_time.keys().next().map(|(at, _)| *at);
            d.wakes_at = next;
            d = match next {
                Some(at) => {
                    self.wake
                        .wait_timeout(d, at.saturating_duration_since(now))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.wake.wait(d).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}
