//! Timeouts end runaway scripts promptly and leave the context usable.
//! A binary of its own: the timing bound is not disturbed by the
//! allocation-heavy tests elsewhere.

use std::time::{Duration, Instant};

use v8cage::{Context, ContextOptions, Error, Value};

fn with_timeout(ms: u64) -> Context {
    Context::new(ContextOptions {
        timeout: Some(Duration::from_millis(ms)),
        ..Default::default()
    })
    .unwrap()
}

fn assert_usable(ctx: &mut Context) {
    assert_eq!(
        ctx.eval("1 + 1").unwrap(),
        Value::Number(2.0),
        "the context still evaluates"
    );
}

#[test]
fn infinite_loop_times_out_promptly_and_context_survives() {
    let mut ctx = with_timeout(100);
    let started = Instant::now();
    assert_eq!(ctx.eval("while (true) {}"), Err(Error::Timeout));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(100), "fired early: {took:?}");
    assert!(took < Duration::from_millis(150), "fired late: {took:?}");
    assert_usable(&mut ctx);
    // Again, to prove the termination was fully cancelled and re-armed.
    assert_eq!(ctx.eval("for (;;) {}"), Err(Error::Timeout));
    assert_usable(&mut ctx);
}

#[test]
fn timeout_applies_to_calls_and_promise_jobs() {
    let mut ctx = with_timeout(100);
    ctx.eval("function spin() { for (;;) {} }").unwrap();
    assert_eq!(ctx.call("spin", &[]), Err(Error::Timeout));
    assert_eq!(
        ctx.eval("Promise.resolve().then(() => { for (;;) {} }); 1"),
        Err(Error::Timeout)
    );
    assert_usable(&mut ctx);
}

#[test]
fn a_finished_eval_is_not_hit_by_its_expired_timeout() {
    // Many short evals under a short timeout: none is wrongly terminated
    // because an earlier deadline fires late.
    let mut ctx = with_timeout(20);
    for i in 0..2000 {
        assert_eq!(ctx.eval("2 * 21").unwrap(), Value::Number(42.0), "eval {i}");
    }
}

#[test]
fn timeout_can_change_between_evals() {
    let mut ctx = with_timeout(50);
    ctx.set_timeout(None);
    assert_eq!(
        ctx.eval("let n = 0; for (let i = 0; i < 1e6; i++) n += i; n")
            .unwrap(),
        Value::Number(499999500000.0)
    );
    ctx.set_timeout(Some(Duration::from_millis(30)));
    assert_eq!(ctx.eval("while (true) {}"), Err(Error::Timeout));
}
