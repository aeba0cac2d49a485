//! Timeouts end runaway scripts promptly and leave the context usable.
//! A binary of its own: the timing bound is not disturbed by the
//! allocation-heavy tests elsewhere.

//!
//! How promptly a timeout fires is measured by `cargo bench` (a loaded
//! machine may always be late); these tests check what it does, with short
//! timeouts only around evaluations that cannot end otherwise.

mod common;
use common::generous_context;
use common::{eval_until_timeout, generous, scaled};
use rstest::rstest;
use v8cage::Isolation;

use std::time::{Duration, Instant};

use v8cage::{Context, ContextOptions, Error, Value};

fn with_timeout(isolation: Isolation, ms: u64) -> Context {
    Context::new(ContextOptions {
        timeout: Some(Duration::from_millis(ms)),
        ..common::options(isolation)
    })
    .unwrap()
}

/// `1 + 1` under a generous timeout; the context's own is put back.
fn assert_usable(ctx: &mut Context) {
    let own = ctx.options().timeout;
    ctx.set_timeout(Some(generous()));
    assert_eq!(
        ctx.eval("1 + 1").unwrap(),
        Value::Number(2.0),
        "the context still evaluates"
    );
    ctx.set_timeout(own);
}

const MS_100: Duration = Duration::from_millis(100);

#[rstest]
fn infinite_loop_times_out_and_context_survives(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = with_timeout(isolation, 100);
    let started = Instant::now();
    assert_eq!(ctx.eval("while (true) {}"), Err(Error::Timeout));
    let took = started.elapsed();
    assert!(took >= MS_100, "fired early: {took:?}");
    assert_usable(&mut ctx);
    // Again, to prove the termination was fully cancelled and re-armed.
    assert_eq!(ctx.eval("for (;;) {}"), Err(Error::Timeout));
    assert_usable(&mut ctx);
}

/// A worker waiting on an idle host must not start the next evaluation's
/// clock while it waits: the pause is the host's, not the script's.
#[rstest]
fn the_clock_starts_when_the_request_arrives_not_while_waiting_for_it(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = with_timeout(isolation, 100);
    // The first evaluation (a worker's first request, compiling) may take
    // longer than 100 ms on a slow machine or under valgrind.
    ctx.set_timeout(Some(generous()));
    assert_eq!(ctx.eval("1").unwrap(), Value::Number(1.0));
    ctx.set_timeout(Some(MS_100));
    // The host is idle for longer than the timeout: a clock started by
    // the waiting worker would have expired before the loop began.
    std::thread::sleep(Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(ctx.eval("while (true) {}"), Err(Error::Timeout));
    let took = started.elapsed();
    assert!(took >= MS_100, "fired early: {took:?}");
}

#[rstest]
fn timeout_applies_to_calls_and_promise_jobs(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = generous_context(isolation);
    ctx.eval("function spin() { for (;;) {} }").unwrap();
    ctx.set_timeout(Some(MS_100));
    assert_eq!(ctx.call("spin", &[]), Err(Error::Timeout));
    assert_eq!(
        eval_until_timeout(
            &mut ctx,
            MS_100,
            "Promise.resolve().then(() => { for (;;) {} }); 1"
        ),
        Err(Error::Timeout)
    );
    assert_usable(&mut ctx);
}

/// A deadline that is already past when it is armed, for an evaluation that
/// may finish first, must never stop the next evaluation, which has an
/// hour: only a stale deadline can fail this, however slow the machine.
#[rstest]
fn an_expired_deadline_never_stops_a_later_evaluation(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = generous_context(isolation);
    let tries = (2000 / common::time_scale()).max(100);
    for i in 0..tries {
        ctx.set_timeout(Some(Duration::from_nanos(1)));
        let early = ctx.eval("2 * 21");
        assert!(
            matches!(early, Ok(Value::Number(42.0)) | Err(Error::Timeout)),
            "eval {i}: {early:?}"
        );
        ctx.set_timeout(Some(Duration::from_secs(3600)));
        assert_eq!(ctx.eval("2 * 21"), Ok(Value::Number(42.0)), "eval {i}");
    }
}

/// An evaluation under `first_ms`, then a minute-long loop under
/// `second_ms`: only a timer that misses the second deadline lets the loop
/// run its full minute.
fn a_second_timeout_fires(isolation: Isolation, first_ms: u64, second_ms: u64) {
    let mut ctx = generous_context(isolation);
    // Warm: a context's first evaluation may outlast `first_ms` under valgrind.
    assert_eq!(ctx.eval("2 * 21"), Ok(Value::Number(42.0)));
    ctx.set_timeout(Some(Duration::from_millis(first_ms)));
    assert_eq!(ctx.eval("2 * 21"), Ok(Value::Number(42.0)));
    ctx.set_timeout(Some(Duration::from_millis(second_ms)));
    assert_eq!(
        ctx.eval("const end = Date.now() + 60000; while (Date.now() < end) {} 'ran a minute'"),
        Err(Error::Timeout)
    );
    assert_usable(&mut ctx);
}

/// A shorter timeout than the one before: its deadline comes before the
/// watchdog's next look at the context, which it must move.
#[rstest]
fn a_shorter_timeout_after_a_long_one_still_fires(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    a_second_timeout_fires(isolation, 3_600_000, 100);
}

/// The watchdog's look at a context, left by an evaluation that ended,
/// comes while a later one with a later deadline runs: the look must move
/// on to that deadline.
#[rstest]
fn a_look_left_by_an_ended_evaluation_moves_on_to_the_next(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    a_second_timeout_fires(isolation, 150, 400);
}

#[rstest]
fn timeout_can_change_between_evals(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = with_timeout(isolation, 50);
    ctx.set_timeout(None);
    assert_eq!(
        ctx.eval("let n = 0; for (let i = 0; i < 1e6; i++) n += i; n")
            .unwrap(),
        Value::Number(499999500000.0)
    );
    ctx.set_timeout(Some(Duration::from_millis(30)));
    assert_eq!(ctx.eval("while (true) {}"), Err(Error::Timeout));
}

/// Found by `eval_gen` (corpus/regressions/eval_gen/leftover-promise-jobs):
/// jobs queued by a timed-out evaluation ran during the next one, so a
/// single hostile script left every later `1+1` timing out.
#[rstest]
fn promise_jobs_of_a_stopped_evaluation_are_discarded(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = generous_context(isolation);
    ctx.eval("globalThis.ran = 0").unwrap();
    let leftover =
        "for (let i = 0; i < 1000; i++) Promise.resolve().then(() => { ran++; for (;;) {} });
        while (true) {}";
    assert_eq!(
        eval_until_timeout(&mut ctx, MS_100, leftover),
        Err(Error::Timeout)
    );
    assert_eq!(ctx.eval("1+1"), Ok(Value::Number(2.0)));
    assert_eq!(ctx.eval("ran"), Ok(Value::Number(0.0)));

    // Same for a terminated evaluation.
    ctx.set_timeout(None);
    let terminator = common::keep_terminating(ctx.terminate_handle());
    assert_eq!(ctx.eval(leftover), Err(Error::Terminated));
    terminator.stop();
    ctx.set_timeout(Some(generous()));
    assert_eq!(ctx.eval("ran"), Ok(Value::Number(0.0)));
}

/// An evaluation that throws drops its queued jobs too, so what the next
/// evaluation sees does not depend on a failed one's leftovers.
#[rstest]
fn promise_jobs_of_a_throwing_evaluation_do_not_run_later(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = generous_context(isolation);
    let thrown =
        ctx.eval("globalThis.n = 0; Promise.resolve().then(() => n++); throw new Error('x')");
    assert!(matches!(thrown, Err(Error::Exception { .. })), "{thrown:?}");
    assert_eq!(ctx.eval("n"), Ok(Value::Number(0.0)));
    assert_eq!(ctx.eval("n"), Ok(Value::Number(0.0)));
    // A successful evaluation still runs its jobs before returning.
    assert_eq!(
        ctx.eval("Promise.resolve().then(() => n++); 7"),
        Ok(Value::Number(7.0))
    );
    assert_eq!(ctx.eval("n"), Ok(Value::Number(1.0)));
}

/// Found by `api_ops` (corpus/regressions/api_ops/prepare-stack-trace-after-timeout):
/// when the timeout fired while the error report read one property of the
/// thrown value, the next property read ran JS with no deadline left and
/// looped forever. The evaluation runs on its own thread so that this test
/// fails (rather than hangs) if it comes back.
#[rstest]
fn timeout_during_the_error_report_ends_the_report(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ctx = generous_context(isolation);
        let thrown = "throw { get name() { for (;;) {} }, get message() { for (;;) {} }, get stack() { for (;;) {} } }";
        let first = eval_until_timeout(&mut ctx, MS_100, thrown);
        ctx.eval("Error.prepareStackTrace = () => { for (;;) {} }")
            .unwrap();
        let second = eval_until_timeout(&mut ctx, MS_100, "function r() { return r() } r()");
        done.send((first, second, ctx.eval("1+1"))).unwrap();
    });
    let (first, second, after) = finished
        .recv_timeout(scaled(Duration::from_secs(120)))
        .expect("the evaluations did not end within 120 s");
    assert_eq!(first, Err(Error::Timeout));
    assert_eq!(second, Err(Error::Timeout));
    assert_eq!(after, Ok(Value::Number(2.0)));
}

#[rstest]
fn a_deadline_that_passes_before_the_script_starts_still_stops_it(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    // Regression: the deadline used to be armed before the evaluation's stop
    // window opened, so one that fired in between was dropped and the script
    // ran forever (found by the ASan job: 1 ms timeouts, slow start-up).
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ctx = Context::new(ContextOptions {
            timeout: Some(Duration::from_nanos(1)),
            ..common::options(isolation)
        })
        .unwrap();
        // Enough tries to hit the window often; fewer where everything is slow.
        let tries = (2000 / common::time_scale()).max(50);
        let outcomes: Vec<_> = (0..tries).map(|_| ctx.eval("for (;;) {}")).collect();
        done.send(outcomes).unwrap();
    });
    let outcomes = finished
        .recv_timeout(scaled(Duration::from_secs(60)))
        .expect("an evaluation whose deadline had passed ran on");
    assert!(outcomes.iter().all(|o| *o == Err(Error::Timeout)));
}
