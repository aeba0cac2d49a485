//! Many contexts in parallel; stopping an evaluation from another thread;
//! dropping a context while another thread holds its handle.

mod common;

use rstest::rstest;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;
use v8cage::Isolation;

use v8cage::{Context, ContextOptions, Error, Value};

#[rstest]
fn eight_threads_each_with_a_context_all_correct(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut ctx = common::context(isolation).unwrap();
                ctx.eval(&format!(
                    "const base = {t} * 1e6; function f(i) {{ return base + i * 2 }}"
                ))
                .unwrap();
                for i in 0..1000 {
                    let expected = Value::Number(t as f64 * 1e6 + i as f64 * 2.0);
                    if i % 2 == 0 {
                        assert_eq!(ctx.eval(&format!("f({i})")).unwrap(), expected);
                    } else {
                        assert_eq!(ctx.call("f", &[Value::from(i)]).unwrap(), expected);
                    }
                }
                t
            })
        })
        .collect();
    let mut done: Vec<_> = threads
        .into_iter()
        .map(|h| h.join().expect("thread survives"))
        .collect();
    done.sort();
    assert_eq!(done, (0..8).collect::<Vec<_>>());
}

#[rstest]
fn a_context_moves_between_threads(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::context(isolation).unwrap();
    ctx.eval("var counter = 0").unwrap();
    for _ in 0..4 {
        ctx = std::thread::spawn(move || {
            ctx.eval("counter++").unwrap();
            ctx
        })
        .join()
        .unwrap();
    }
    assert_eq!(ctx.eval("counter").unwrap(), Value::Number(4.0));
}

#[rstest]
fn terminate_from_another_thread_stops_the_eval(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::context(isolation).unwrap();
    let handle = ctx.terminate_handle();
    ctx.eval("function tick() {}").unwrap();
    // `terminate` has no effect until the eval runs, so the main thread keeps
    // asking until the runner reports back: the loop has no other way out.
    let (done_tx, done_rx) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let result = ctx.eval("for (;;) { tick() }");
        done_tx.send(()).unwrap();
        (ctx, result)
    });
    while done_rx.recv_timeout(Duration::from_millis(5)).is_err() {
        handle.terminate();
    }
    let (mut ctx, result) = runner.join().unwrap();
    assert_eq!(result, Err(Error::Terminated));
    assert_eq!(
        ctx.eval("1 + 1").unwrap(),
        Value::Number(2.0),
        "usable after termination"
    );
    handle.terminate(); // nothing running: no effect on the next eval
    assert_eq!(ctx.eval("2 + 2").unwrap(), Value::Number(4.0));
}

#[rstest]
fn terminate_only_affects_its_own_context(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut victim = common::context(isolation).unwrap();
    let handle = victim.terminate_handle();
    let barrier = Arc::new(Barrier::new(2));
    let b = Arc::clone(&barrier);
    let bystander = std::thread::spawn(move || {
        let mut ctx = common::context(isolation).unwrap();
        b.wait();
        (0..2000)
            .map(|i| ctx.eval(&format!("{i} + 1")).unwrap())
            .count()
    });
    let (done_tx, done_rx) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let r = victim.eval("for (;;) {}");
        done_tx.send(()).unwrap();
        r
    });
    barrier.wait();
    while done_rx.recv_timeout(Duration::from_millis(5)).is_err() {
        handle.terminate();
    }
    assert_eq!(runner.join().unwrap(), Err(Error::Terminated));
    assert_eq!(bystander.join().unwrap(), 2000);
}

#[rstest]
fn dropping_a_context_while_another_thread_holds_its_handle(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    for _ in 0..20 {
        let ctx = Context::new(ContextOptions {
            timeout: Some(Duration::from_millis(50)),
            ..common::options(isolation)
        })
        .unwrap();
        let handle = ctx.terminate_handle();
        let hammer = std::thread::spawn(move || {
            for _ in 0..200 {
                handle.terminate();
            }
            handle
        });
        drop(ctx);
        let handle = hammer.join().unwrap();
        handle.terminate(); // after the drop: a no-op, not a use-after-free
    }
}

#[rstest]
fn timeouts_in_parallel_contexts_are_independent(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    // Only the endless loops run under the short timeouts: under valgrind
    // the four threads take turns on one core, and even `'ok'` outlasted
    // 50 ms (seen in CI).
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut ctx = Context::new(ContextOptions {
                    timeout: Some(Duration::from_millis(50 + 20 * i)),
                    ..common::options(isolation)
                })
                .unwrap();
                let spin = ctx.eval("while (true) {}");
                ctx.set_timeout(Some(common::generous()));
                let fine = ctx.eval("'ok'");
                (spin, fine)
            })
        })
        .collect();
    for t in threads {
        let (spin, fine) = t.join().unwrap();
        assert_eq!(spin, Err(Error::Timeout));
        assert_eq!(fine.unwrap(), Value::from("ok"));
    }
}

/// A stop must never follow a context to another thread: V8 keeps each
/// thread's state of an isolate between evaluations and archives it when
/// the context changes threads, so a request could travel with it. Here the
/// context alternates between two threads, and a 1 µs timeout lands at any
/// point of the endless loop's evaluation, also before it takes the
/// isolate. The evaluations checked after it have no timeout and nothing
/// else stops them: only a stale request can fail them.
#[rstest]
fn stops_never_follow_a_context_to_another_thread(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let (to_a, at_a) = mpsc::channel::<Context>();
    let (to_b, at_b) = mpsc::channel::<Context>();
    let (to_main, at_main) = mpsc::channel::<Context>();
    let a = std::thread::spawn(move || {
        for mut ctx in at_a {
            ctx.set_timeout(Some(Duration::from_micros(1)));
            assert_eq!(ctx.eval("for (;;) {}"), Err(Error::Timeout));
            ctx.set_timeout(None);
            assert_eq!(ctx.eval("1 + 1").unwrap(), Value::Number(2.0));
            to_b.send(ctx).unwrap();
        }
    });
    let b = std::thread::spawn(move || {
        for mut ctx in at_b {
            ctx.terminate_handle().terminate(); // nothing running: no effect
            assert_eq!(ctx.eval("2 + 2").unwrap(), Value::Number(4.0));
            to_main.send(ctx).unwrap();
        }
    });
    let mut ctx = common::context(isolation).unwrap();
    for round in 0..200 {
        to_a.send(ctx).unwrap();
        ctx = at_main.recv().expect("both threads passed the context on");
        assert_eq!(
            ctx.eval("3 + 3").unwrap(),
            Value::Number(6.0),
            "round {round}"
        );
    }
    drop(to_a);
    a.join().unwrap();
    b.join().unwrap();
}

/// More threads than a context keeps V8 state for (16): the later ones set
/// theirs up per evaluation, and every thread sees the same context.
#[test]
fn a_context_used_by_many_short_lived_threads_in_turn() {
    let mut ctx = common::context(Isolation::InProcess).unwrap();
    ctx.eval("var visits = 0").unwrap();
    for _ in 0..40 {
        ctx = std::thread::spawn(move || {
            ctx.eval("visits++").unwrap();
            ctx.call("String", &[Value::from(1)]).unwrap();
            ctx
        })
        .join()
        .unwrap();
    }
    assert_eq!(ctx.eval("visits").unwrap(), Value::Number(40.0));
}

#[test]
fn thread_safety_markers() {
    fn send<T: Send>() {}
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    send::<Context>();
    send_sync_clone::<v8cage::TerminateHandle>();
    send_sync_clone::<Value>();
    send_sync_clone::<Error>();
}
