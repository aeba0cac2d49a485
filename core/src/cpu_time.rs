//! CPU-time budgets: a thread's or a process's CPU clock, and when a budget
//! on it is spent. The watchdog enforces a budget as a wall-clock deadline
//! that postpones itself: CPU time never runs ahead of wall time for one
//! thread, so a budget cannot be spent before `now + what is left`, and
//! a look at that moment either finds it spent or knows how much is left.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A POSIX CPU-time clock (`clock_gettime` on a `clockid_t` of a thread or
/// a process).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuClock(libc::clockid_t);

impl CpuClock {
    /// The calling thread's CPU clock, readable from other threads while
    /// this one lives.
    pub(crate) fn of_this_thread() -> Option<CpuClock> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: pthread_self() is the calling, live thread; `clock` is a
        // valid out-pointer.
        let failed = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        (failed == 0).then_some(CpuClock(clock))
    }

    /// The CPU clock of process `pid` (all its threads).
    pub(crate) fn of_process(pid: libc::pid_t) -> Option<CpuClock> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `clock` is a valid out-pointer; a pid that is gone is an
        // error return, not undefined behaviour.
        let failed = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
        (failed == 0).then_some(CpuClock(clock))
    }

    /// CPU time used so far; `None` once the thread or process is gone.
    pub(crate) fn used(&self) -> Option<Duration> {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid out-pointer; a clock of a thread or
        // process that ended gives EINVAL, not undefined behaviour.
        let failed = unsafe { libc::clock_gettime(self.0, &mut now) };
        if failed != 0 {
            return None;
        }
        Some(Duration::new(
            u64::try_from(now.tv_sec).ok()?,
            u32::try_from(now.tv_nsec).ok()?,
        ))
    }
}

/// A CPU-time budget being spent: the clock, and the reading at which the
/// budget is gone. `None` before the first evaluation, or without a clock.
#[derive(Default)]
pub(crate) struct Budget(Mutex<Option<(CpuClock, Duration)>>);

impl Budget {
    /// Starts a budget of `limit` on `clock` (from its reading now); with
    /// no clock, or one that cannot be read, there is nothing to look at.
    pub(crate) fn start(&self, clock: Option<CpuClock>, limit: Duration) {
        *self.lock() = clock.and_then(|clock| Some((clock, clock.used()?.saturating_add(limit))));
    }

    /// When to look again if the budget is not spent yet: `now` plus what
    /// is left of it (no sooner can it be spent). `None`: spent, or there is
    /// no clock to read any more.
    pub(crate) fn look_again_at(&self) -> Option<Instant> {
        let (clock, spent_at) = (*self.lock())?;
        let left = spent_at.checked_sub(clock.used()?)?;
        (!left.is_zero()).then(|| Instant::now() + left)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(CpuClock, Duration)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    fn spin_for(cpu: Duration, clock: CpuClock) {
        let start = clock.used().unwrap();
        while clock.used().unwrap() - start < cpu {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn a_budget_is_spent_by_cpu_time_and_not_by_sleeping() {
        let clock = CpuClock::of_this_thread().unwrap();
        let budget = Budget::default();
        budget.start(Some(clock), Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(30));
        let before = Instant::now();
        let again = budget.look_again_at().expect("a sleep spends no CPU time");
        // What is left is at most the budget, and not less than what the
        // sleep left of it (it used some microseconds at most).
        assert!(again <= Instant::now() + Duration::from_millis(20));
        assert!(again >= before + Duration::from_millis(10));
        spin_for(Duration::from_millis(25), clock);
        assert_eq!(budget.look_again_at(), None);
    }

    #[test]
    fn without_a_clock_the_budget_is_a_wall_clock_one() {
        let budget = Budget::default();
        budget.start(None, Duration::from_secs(3600));
        assert_eq!(budget.look_again_at(), None, "nothing postpones the look");
    }

    #[test]
    fn a_process_clock_counts_this_process() {
        let clock = CpuClock::of_process(std::process::id() as libc::pid_t).unwrap();
        let start = clock.used().unwrap();
        spin_for(
            Duration::from_millis(5),
            CpuClock::of_this_thread().unwrap(),
        );
        assert!(clock.used().unwrap() - start >= Duration::from_millis(5));
    }
}
