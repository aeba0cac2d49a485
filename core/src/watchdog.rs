//! One process-wide watchdog thread enforces every context's timeout.
//!
//! No thread per evaluation (measured to cut throughput ~30x): the thread
//! sleeps until the earliest time in a shared map and stops what is due. A
//! context arms its own [`Timer`] for each evaluation, which touches only
//! that timer in the common case; the map is entered only when the new
//! deadline is earlier than the watchdog's next look at the timer (an
//! evaluation that ended leaves the look in place, and the look moves it on
//! to the deadline of whatever evaluation is running then). One-shot
//! deadlines ([`arm`]) are map entries of their own.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// What a deadline does when it passes: stop an in-process evaluation, or
/// kill a worker process that did not answer in time.
pub(crate) trait OnDeadline: Send + Sync {
    fn expire(&self);

    /// Asked when a [`Timer`]'s deadline is due, before `expire`: a later
    /// moment to look again instead (a CPU-time budget not spent yet).
    /// Called with the watchdog's locks held: it must only read a clock.
    fn postpone(&self) -> Option<Instant> {
        None
    }
}

struct Watchdog {
    deadlines: Mutex<Deadlines>,
    wake: Condvar,
    /// Signalled when the watchdog has finished stopping what it took out.
    fired: Condvar,
}

/// What the map holds: a one-shot deadline, or a look at a context's timer
/// (weak: a dropped context's timer is skipped, not kept alive).
enum Entry {
    Once(Arc<dyn OnDeadline>),
    Look(Weak<Slot>),
}

#[derive(Default)]
struct Deadlines {
    by_time: BTreeMap<(Instant, u64), Entry>,
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

/// One context's deadline, reused by all its evaluations.
pub(crate) struct Timer(Arc<Slot>);

struct Slot {
    target: Arc<dyn OnDeadline>,
    state: Mutex<SlotState>,
    /// Signalled when the watchdog has finished stopping this timer's target.
    fired: Condvar,
}

#[derive(Default)]
struct SlotState {
    /// The running evaluation's deadline.
    deadline: Option<Instant>,
    /// When the watchdog looks at this timer next (its entry in the map);
    /// changed only with the map locked too.
    look_at: Option<(Instant, u64)>,
    /// The watchdog is stopping the target right now (outside the locks).
    firing: bool,
}

/// Disarms its timer when dropped.
pub(crate) struct TimerArmed<'a>(&'a Timer);

fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

impl Timer {
    pub(crate) fn new(target: Arc<dyn OnDeadline>) -> Timer {
        Timer(Arc::new(Slot {
            target,
            state: Mutex::new(SlotState::default()),
            fired: Condvar::new(),
        }))
    }

    /// Calls the target's `expire` once `timeout` passes, unless the
    /// returned guard is dropped first.
    pub(crate) fn arm(&self, timeout: Duration) -> TimerArmed<'_> {
        let deadline = deadline_after(timeout);
        let slot = &self.0;
        let mut state = slot.lock();
        state.deadline = Some(deadline);
        if state.look_at.is_some_and(|(at, _)| at <= deadline) {
            return TimerArmed(self);
        }
        drop(state);
        // The map first, then the slot: the watchdog's order.
        let dog = watchdog();
        let mut d = dog.lock();
        let mut state = slot.lock();
        // The watchdog may have moved the look meanwhile.
        if state.deadline == Some(deadline) && state.look_at.is_none_or(|(at, _)| at > deadline) {
            d.next_id += 1;
            let key = (deadline, d.next_id);
            d.by_time.insert(key, Entry::Look(Arc::downgrade(slot)));
            state.look_at = Some(key);
            drop(state);
            if d.wakes_at.is_none_or(|at| deadline < at) {
                d.wakes_at = Some(deadline);
                drop(d);
                dog.wake.notify_one();
            }
        }
        TimerArmed(self)
    }
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for TimerArmed<'_> {
    /// Disarms the timer; if the watchdog is stopping its target at this
    /// moment, waits until that stop request has been delivered, so it can
    /// never land in a later evaluation.
    fn drop(&mut self) {
        let slot = &self.0 .0;
        let mut state = slot.lock();
        state.deadline = None;
        while state.firing {
            state = slot.fired.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
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
    let deadline = deadline_after(timeout);
    let mut d = dog.lock();
    d.next_id += 1;
    let key = (deadline, d.next_id);
    d.by_time.insert(key, Entry::Once(target));
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
        let mut d = dog.lock();
        d.by_time.remove(&self.key);
        while d.firing.contains(&self.key) {
            d = dog.fired.wait(d).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Watchdog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Deadlines> {
        self.deadlines.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        let mut d = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            let mut due_timers = Vec::new();
            {
                let deadlines = &mut *d;
                while let Some(entry) = deadlines.by_time.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let key = *entry.key();
                    match entry.remove() {
                        Entry::Once(target) => {
                            deadlines.firing.push(key);
                            due.push(target);
                        }
                        Entry::Look(slot) => {
                            if let Some(slot) = slot.upgrade() {
                                if deadlines.look(&slot, key, now) {
                                    due_timers.push(slot);
                                }
                            }
                        }
                    }
                }
            }
            if !due.is_empty() || !due_timers.is_empty() {
                drop(d);
                for target in due {
                    target.expire();
                }
                for slot in due_timers {
                    slot.target.expire();
                    slot.lock().firing = false;
                    slot.fired.notify_all();
                }
                d = self.lock();
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

impl Deadlines {
    /// The watchdog's look at a timer, due at `key`: true when the running
    /// evaluation's deadline has passed (the slot is then marked firing);
    /// a later deadline gets a look of its own, no evaluation none.
    fn look(&mut self, slot: &Arc<Slot>, key: (Instant, u64), now: Instant) -> bool {
        let mut state = slot.lock();
        if state.look_at != Some(key) {
            return false; // superseded by an earlier look
        }
        state.look_at = None;
        let later = match state.deadline {
            None => return false,
            Some(deadline) if deadline > now => deadline,
            Some(_) => match slot.target.postpone() {
                Some(later) if later > now => {
                    state.deadline = Some(later);
                    later
                }
                _ => {
                    state.firing = true;
                    return true;
                }
            },
        };
        self.next_id += 1;
        let next = (later, self.next_id);
        self.by_time.insert(next, Entry::Look(Arc::downgrade(slot)));
        state.look_at = Some(next);
        false
    }
}

#[cfg(test)]
mod tests {
    //! The bookkeeping alone, with targets that count: pure Rust, so the
    //! Miri job (sanitizer-builds/miri.sh) runs these too. Deadlines that
    //! must not fire are an hour away; those that must are waited for.
    use super::*;
    use std::sync::mpsc;

    const NEVER: Duration = Duration::from_secs(3600);

    /// Counts its expirations and reports each on a channel.
    struct Counter {
        expired: Mutex<u32>,
        tell: Mutex<mpsc::Sender<()>>,
    }

    fn counter() -> (Arc<Counter>, mpsc::Receiver<()>) {
        let (tell, told) = mpsc::channel();
        let counter = Counter {
            expired: Mutex::new(0),
            tell: Mutex::new(tell),
        };
        (Arc::new(counter), told)
    }

    impl OnDeadline for Counter {
        fn expire(&self) {
            *self.expired.lock().unwrap() += 1;
            let _ = self.tell.lock().unwrap().send(());
        }
    }

    fn expired(counter: &Counter) -> u32 {
        *counter.expired.lock().unwrap()
    }

    #[test]
    fn a_passed_one_shot_deadline_expires_its_target_once() {
        let (target, told) = counter();
        let armed = arm(target.clone(), Duration::from_millis(1));
        told.recv().unwrap();
        drop(armed);
        assert_eq!(expired(&target), 1);
    }

    #[test]
    fn a_dropped_one_shot_deadline_leaves_the_map() {
        let (target, _told) = counter();
        let armed = arm(target.clone(), NEVER);
        let key = armed.key;
        assert!(watchdog().lock().by_time.contains_key(&key));
        drop(armed);
        assert!(!watchdog().lock().by_time.contains_key(&key));
        assert_eq!(expired(&target), 0);
    }

    #[test]
    fn a_later_deadline_reuses_the_timer_look_and_an_earlier_one_gets_its_own() {
        let (target, told) = counter();
        let timer = Timer::new(target.clone());
        let first_look = {
            let _armed = timer.arm(NEVER);
            // A statement of its own: the lock must end before the guard drops.
            let look_at = timer.0.lock().look_at;
            look_at.expect("the first arming puts a look in the map")
        };
        // Disarmed: the look stays where it was; a later deadline keeps it.
        {
            let _armed = timer.arm(NEVER * 2);
            assert_eq!(timer.0.lock().look_at, Some(first_look));
        }
        assert_eq!(timer.0.lock().deadline, None);
        // An earlier deadline cannot wait for that look: it gets its own.
        let armed = timer.arm(Duration::from_millis(1));
        told.recv().unwrap();
        drop(armed);
        assert_eq!(expired(&target), 1);
        assert_eq!(timer.0.lock().deadline, None);
    }

    /// Postpones its deadline `times` times by a millisecond, then expires.
    struct Postponing {
        left: Mutex<u32>,
        counter: Arc<Counter>,
    }

    impl OnDeadline for Postponing {
        fn expire(&self) {
            self.counter.expire();
        }
        fn postpone(&self) -> Option<Instant> {
            let mut left = self.left.lock().unwrap();
            *left = left.checked_sub(1)?;
            Some(Instant::now() + Duration::from_millis(1))
        }
    }

    #[test]
    fn a_postponed_deadline_expires_once_nothing_postpones_it_any_more() {
        let (counter, told) = counter();
        let target = Arc::new(Postponing {
            left: Mutex::new(3),
            counter: Arc::clone(&counter),
        });
        let timer = Timer::new(target.clone());
        let armed = timer.arm(Duration::from_millis(1));
        told.recv().unwrap();
        drop(armed);
        assert_eq!(*target.left.lock().unwrap(), 0, "postponed three times");
        assert_eq!(expired(&counter), 1);
    }

    #[test]
    fn a_dropped_timer_is_skipped_not_kept_alive() {
        let (target, _told) = counter();
        let timer = Timer::new(target.clone());
        drop(timer.arm(NEVER));
        let slot = Arc::downgrade(&timer.0);
        drop(timer);
        // The map's look is weak: nothing else holds the slot or its target.
        assert!(slot.upgrade().is_none());
        assert_eq!(Arc::strong_count(&target), 1);
    }
}
