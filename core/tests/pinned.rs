//! A context pinned to its thread (`Context::pin_to_thread`) keeps V8's
//! lock between evaluations. Everything else must behave as unpinned:
//! results, stops from other threads, timeouts, and the context moving to
//! another thread once unpinned.

mod common;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::generous_context;
use rstest::rstest;
use v8cage::{Context, ContextOptions, Error, Isolation, Value};

#[rstest]
fn a_pinned_context_evaluates_and_keeps_its_state(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = generous_context(isolation);
    ctx.eval("var count = 0").unwrap();
    {
        let mut pinned = ctx.pin_to_thread().unwrap();
        for i in 1..=100 {
            assert_eq!(pinned.eval("++count").unwrap(), Value::Number(i as f64));
        }
        assert_eq!(
            pinned.eval("({ a: [1, 'x'] })").unwrap(),
            Value::Object(vec![(
                "a".into(),
                Value::Array(vec![Value::Number(1.0), Value::String("x".into())])
            )])
        );
        assert!(pinned.heap_stats().used > 0);
    }
    assert_eq!(ctx.eval("count").unwrap(), Value::Number(100.0));
}

/// While a pin holds V8's lock between evaluations, a timeout and a stop
/// from another thread still end the running evaluation; the pinned
/// context stays usable.
#[rstest]
fn stops_reach_a_pinned_context(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(Duration::from_millis(100)),
        isolation,
        ..ContextOptions::default()
    })
    .unwrap();
    let (started, wait_started) = mpsc::channel();
    let started = Mutex::new(started);
    ctx.expose(
        "started",
        Arc::new(move |_| {
            started.lock().unwrap().send(()).unwrap();
            Ok(Value::Undefined)
        }),
    )
    .unwrap();
    let stop = ctx.terminate_handle();
    let mut pinned = ctx.pin_to_thread().unwrap();
    assert_eq!(pinned.eval("for (;;) {}"), Err(Error::Timeout));
    pinned.set_timeout(None);
    let stopper = std::thread::spawn(move || {
        wait_started.recv().unwrap();
        stop.terminate();
    });
    assert_eq!(
        pinned.eval("started(); for (;;) {}"),
        Err(Error::Terminated)
    );
    stopper.join().unwrap();
    assert_eq!(pinned.eval("6 * 7"), Ok(Value::Number(42.0)));
}

/// Unpinned, a context moves to another thread and works there; pinned
/// again on that thread, it works too.
#[test]
fn an_unpinned_context_moves_to_another_thread() {
    let mut ctx = generous_context(Isolation::InProcess);
    {
        let mut pinned = ctx.pin_to_thread().unwrap();
        assert_eq!(pinned.eval("globalThis.n = 1").unwrap(), Value::Number(1.0));
    }
    let ctx = std::thread::spawn(move || {
        let mut pinned = ctx.pin_to_thread().unwrap();
        assert_eq!(pinned.eval("++n").unwrap(), Value::Number(2.0));
        drop(pinned);
        ctx
    })
    .join()
    .unwrap();
    let mut ctx = ctx;
    assert_eq!(ctx.eval("++n").unwrap(), Value::Number(3.0));
}

/// A forgotten pin guard leaves V8's lock with its thread: the context must
/// refuse other threads with an error rather than wait for that lock
/// forever, keep working on its own thread, and be dropped elsewhere
/// without hanging (its isolate is then leaked, not freed).
#[test]
fn a_forgotten_pin_refuses_other_threads_instead_of_hanging() {
    let mut ctx = generous_context(Isolation::InProcess);
    std::mem::forget(ctx.pin_to_thread().unwrap());
    assert_eq!(ctx.eval("1 + 1").unwrap(), Value::Number(2.0));
    let ctx = std::thread::spawn(move || {
        let mut ctx = ctx;
        match ctx.eval("1 + 1") {
            Err(Error::InvalidInput(why)) => assert!(why.contains("pinned"), "{why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(
            ctx.heap_stats().used,
            0,
            "no stats from another thread's isolate"
        );
        ctx
    })
    .join()
    .unwrap();
    std::thread::spawn(move || drop(ctx)).join().unwrap();
}
