//! `cpu_time_limit`: an evaluation ends when its thread has used the CPU
//! time it was given (`Error::CpuTimeLimit`, the context survives), while
//! time spent waiting does not count. Neither outcome depends on how much
//! CPU the test gets: a loaded machine only makes each take longer.

mod common;
use common::{generous, scaled};
use rstest::rstest;

use std::sync::Arc;
use std::time::{Duration, Instant};

use v8cage::{Context, ContextOptions, Error, Isolation, Value};

const LIMIT: Duration = Duration::from_millis(100);

fn with_cpu_limit(isolation: Isolation, limit: Duration) -> Context {
    Context::new(ContextOptions {
        cpu_time_limit: Some(limit),
        ..common::options(isolation)
    })
    .unwrap()
}

/// This thread's CPU time so far.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer for the calling thread's own clock.
    let failed = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(failed, 0);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[rstest]
fn an_endless_loop_ends_at_its_cpu_time_limit_and_the_context_survives(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = with_cpu_limit(isolation, LIMIT);
    let cpu_before = thread_cpu_time();
    assert_eq!(ctx.eval("for (;;) {}"), Err(Error::CpuTimeLimit));
    if isolation == Isolation::InProcess {
        // It ran on this thread: the limit was really spent, not guessed
        // from the wall clock.
        let spent = thread_cpu_time() - cpu_before;
        assert!(spent >= LIMIT, "stopped after {spent:?} of CPU time");
    }
    assert_eq!(ctx.eval("6 * 7"), Ok(Value::Number(42.0)));
    // Again: the budget starts afresh for every evaluation.
    ctx.eval("function spin() { while (true) {} }").unwrap();
    assert_eq!(ctx.call("spin", &[]), Err(Error::CpuTimeLimit));
    assert_eq!(ctx.eval("'still here'"), Ok(Value::from("still here")));
}

/// The evaluation waits in a host function that sleeps: next to no CPU
/// time (in a worker, the worker waits for the host's answer), so a 50 ms
/// CPU limit lets it sleep 600 ms, where a 50 ms timeout would not.
#[rstest]
fn waiting_is_not_cpu_time(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    // Instrumented builds run the script slower: the limit scales, and
    // each nap stays six times as long.
    let limit = scaled(Duration::from_millis(50));
    let mut ctx = with_cpu_limit(isolation, limit);
    ctx.expose(
        "nap",
        Arc::new(move |_| {
            std::thread::sleep(limit * 6);
            Ok(Value::from("rested"))
        }),
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        ctx.eval("nap() + ' ' + nap()"),
        Ok(Value::from("rested rested"))
    );
    assert!(started.elapsed() >= limit * 12);
}

#[rstest]
fn the_wall_clock_timeout_stays_its_own_error(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(Duration::from_millis(100)),
        cpu_time_limit: Some(generous()),
        ..common::options(isolation)
    })
    .unwrap();
    assert_eq!(ctx.eval("for (;;) {}"), Err(Error::Timeout));
    ctx.set_timeout(Some(generous()));
    assert_eq!(ctx.eval("1 + 1"), Ok(Value::Number(2.0)));
}

/// A builtin that never looks for the stop request (V8's `indexOf` on a
/// 2^53 - 1 long array-like, `known_limits.rs`) runs past the limit; in a
/// worker, the host's backstop kills it.
#[test]
fn a_worker_that_ignores_the_stop_is_killed_at_the_backstop() {
    let mut ctx = Context::new(ContextOptions {
        cpu_time_limit: Some(LIMIT),
        kill_grace: Duration::from_millis(100),
        ..common::options(Isolation::Process)
    })
    .unwrap();
    let stall = "Array.prototype.indexOf.call({length: 2**53 - 1}, 1)";
    assert_eq!(ctx.eval(stall), Err(Error::CpuTimeLimit));
    // The worker is gone, and says why to every later call.
    match ctx.eval("1") {
        Err(Error::Crashed { message, .. }) => {
            assert!(message.contains("CPU time limit reached"), "{message}")
        }
        other => panic!("a lost context answered {other:?}"),
    }
}
