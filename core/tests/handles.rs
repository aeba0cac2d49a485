//! Handles (objects kept in the context), promises, the event loop
//! (setTimeout) and host functions.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eval_until_timeout, generous};
use rstest::rstest;
use v8cage::{Context, ContextOptions, Error, HandleKind, Isolation, PromiseState, Value};

fn context_with(isolation: Isolation, object_handles: bool, event_loop: bool) -> Context {
    Context::new(ContextOptions {
        timeout: Some(generous()),
        object_handles,
        event_loop,
        ..common::options(isolation)
    })
    .expect("a context")
}

fn key(k: &str) -> Value {
    Value::from(k)
}

#[rstest]
fn object_handles_read_and_write_through(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, true, false);
    let obj = c
        .eval("var proto = {inherited: 1}; var a = Object.create(proto); a.own = 'x'; a[5] = 'five'; a")
        .unwrap();
    let Value::Handle(handle) = &obj else {
        panic!("{obj:?}")
    };
    assert_eq!(handle.kind(), HandleKind::Object);
    // Index keys come back as numbers, inherited enumerable keys too.
    assert_eq!(
        c.keys(Some(&obj)).unwrap(),
        vec![Value::from(5), key("own"), key("inherited")]
    );
    assert_eq!(c.get(Some(&obj), &Value::from(5)).unwrap(), key("five"));
    assert_eq!(c.get(Some(&obj), &key("5")).unwrap(), key("five"));
    // JavaScript's key conversion: null is "null".
    c.set(Some(&obj), &Value::Null, &Value::from(7)).unwrap();
    assert_eq!(c.eval("a['null']").unwrap(), Value::from(7));
    assert!(c.has(Some(&obj), &key("inherited")).unwrap());
    assert!(!c.has(Some(&obj), &key("elvis")).unwrap());
    assert!(c.delete(Some(&obj), &key("own")).unwrap());
    assert!(!c.delete(Some(&obj), &key("own")).unwrap());
    assert_eq!(c.eval("'own' in a").unwrap(), Value::Bool(false));
    // Nested objects are handles too; a handle passed back is the same object.
    let inner = c.eval("var b = {k: 'v'}; b").unwrap();
    c.set(Some(&obj), &key("inner"), &inner).unwrap();
    assert_eq!(c.eval("a.inner === b").unwrap(), Value::Bool(true));
    let Value::Handle(array) = c.eval("[1, 2]").unwrap() else {
        panic!()
    };
    assert_eq!(array.kind(), HandleKind::Array);
    // The global object is the target `None`.
    c.set(None, &key("fromHost"), &Value::from(3)).unwrap();
    assert_eq!(c.eval("fromHost").unwrap(), Value::from(3));
    assert_eq!(c.get(None, &key("fromHost")).unwrap(), Value::from(3));
}

#[rstest]
fn methods_are_called_with_their_receiver(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, true, false);
    let thing = c
        .eval("class Thing { constructor(a) { this.blob = a } stuff(x) { return this.blob + x } }; new Thing('start')")
        .unwrap();
    let stuff = c.get(Some(&thing), &key("stuff")).unwrap();
    assert!(matches!(stuff, Value::Function(_)));
    assert_eq!(
        c.call_with_this(&stuff, &thing, &[key("end")]).unwrap(),
        key("startend")
    );
    // A non-callable handle is refused, not called.
    assert!(matches!(
        c.call_with_this(&thing, &Value::Undefined, &[]),
        Err(Error::InvalidInput(_))
    ));
}

#[rstest]
fn handles_are_released_when_dropped_and_bound_to_their_context(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, true, false);
    assert_eq!(c.handle_count(), 0);
    let kept = c.eval("({a: 1})").unwrap();
    let copies = [kept.clone(), kept.clone()];
    let other = c.eval("[]").unwrap();
    assert_eq!(c.handle_count(), 2);
    drop(other);
    drop(copies);
    assert_eq!(c.handle_count(), 1);
    drop(kept);
    assert_eq!(c.handle_count(), 0);
    // Released in the context too: the next operation frees them there.
    assert_eq!(c.eval("1").unwrap(), Value::from(1));

    let mut elsewhere = context_with(isolation, true, false);
    let foreign = elsewhere.eval("({})").unwrap();
    assert!(matches!(
        c.get(Some(&foreign), &key("a")),
        Err(Error::InvalidInput(_))
    ));
    c.eval("function id(x) { return x }").unwrap();
    assert!(matches!(
        c.call("id", &[foreign]),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        c.keys(Some(&Value::from(1))),
        Err(Error::InvalidInput(_))
    ));
}

#[rstest]
fn promises_report_their_state(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, true, false);
    let fulfilled = c.eval("Promise.resolve(6 * 7)").unwrap();
    assert_eq!(
        c.promise_state(&fulfilled).unwrap(),
        PromiseState::Fulfilled(Value::from(42))
    );
    let rejected = c.eval("Promise.reject('why')").unwrap();
    assert_eq!(
        c.promise_state(&rejected).unwrap(),
        PromiseState::Rejected(key("why"))
    );
    let pending = c
        .eval("var settle; new Promise(r => { settle = r })")
        .unwrap();
    assert_eq!(c.promise_state(&pending).unwrap(), PromiseState::Pending);
    c.eval("settle('now')").unwrap();
    assert_eq!(
        c.promise_state(&pending).unwrap(),
        PromiseState::Fulfilled(key("now"))
    );
    let object = c.eval("({})").unwrap();
    assert!(matches!(
        c.promise_state(&object),
        Err(Error::InvalidInput(_))
    ));
}

/// Timers fire in due order, a cleared one never; awaiting a promise runs
/// them as they come due.
#[rstest]
fn timers_fire_in_order_while_a_promise_is_awaited(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, false, true);
    let done = c
        .eval(
            "var order = [];
             setTimeout(() => order.push('b'), 20);
             setTimeout((x) => order.push(x), 0, 'a');
             clearTimeout(setTimeout(() => order.push('cleared'), 10));
             setTimeout(() => { throw new Error('ignored, as in a browser') }, 5);
             new Promise(res => setTimeout(() => res(order.join()), 40))",
        )
        .unwrap();
    let Value::Handle(promise) = &done else {
        panic!("{done:?}")
    };
    assert_eq!(promise.kind(), HandleKind::Promise);
    assert_eq!(
        c.await_promise(&done, None).unwrap(),
        PromiseState::Fulfilled(key("a,b"))
    );
}

#[rstest]
fn timers_run_only_when_due_and_only_inside_an_entry_point(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, false, true);
    c.eval("var fired = false; setTimeout(() => { fired = true }, 3600e3)")
        .unwrap();
    assert_eq!(c.eval("fired").unwrap(), Value::Bool(false));
    let next = c.run_pending().unwrap().expect("a timer is pending");
    assert!(next > Duration::from_secs(3000), "{next:?}");
    // A timer that re-arms itself with no delay cannot keep one entry point
    // busy forever: each pass runs only the timers that existed before it.
    c.eval("var count = 0; (function again() { count++; setTimeout(again, 0) })()")
        .unwrap();
    assert_eq!(c.run_pending().unwrap(), Some(Duration::ZERO));
    // Without the option there are no timers.
    let mut plain = context_with(isolation, false, false);
    assert_eq!(plain.eval("typeof setTimeout").unwrap(), key("undefined"));
}

/// A timer's callback runs inside the entry point that found it due, under
/// that entry point's timeout: an endless one times out the next eval and
/// is gone afterwards.
#[rstest]
fn an_endless_timer_is_charged_to_the_entry_point_that_runs_it(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, false, true);
    c.eval("setTimeout(() => { for (;;) {} }, 0)").unwrap();
    assert_eq!(
        eval_until_timeout(&mut c, Duration::from_millis(100), "1"),
        Err(Error::Timeout)
    );
    assert_eq!(c.eval("2").unwrap(), Value::from(2));
}

#[rstest]
fn host_functions_are_called_with_arguments_and_return_values(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, false, false);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    c.expose(
        "add",
        Arc::new(move |args: Vec<Value>| {
            counted.fetch_add(1, Ordering::Relaxed);
            let sum = args
                .iter()
                .map(|a| match a {
                    Value::Number(n) => Ok(*n),
                    other => Err(format!("not a number: {other:?}")),
                })
                .sum::<Result<f64, String>>()?;
            Ok(Value::Number(sum))
        }),
    )
    .unwrap();
    assert_eq!(c.eval("add(2, 3, 4)").unwrap(), Value::from(9));
    // An Err is thrown in JavaScript as an Error with its message.
    assert_eq!(
        c.eval("try { add('x') } catch (e) { e instanceof Error && e.message }")
            .unwrap(),
        key("not a number: String(\"x\")")
    );
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    // A panic does not unwind into V8.
    c.expose("boom", Arc::new(|_| panic!("planted panic")))
        .unwrap();
    assert_eq!(
        c.eval("try { boom() } catch (e) { e.message }").unwrap(),
        key("the host function panicked")
    );
    // Structured values go both ways; a host function is a value too.
    let echo = c
        .host_function(Arc::new(|mut args: Vec<Value>| {
            Ok(args.pop().unwrap_or(Value::Undefined))
        }))
        .unwrap();
    c.eval("function apply(f, x) { return f(x) }").unwrap();
    let nested = Value::Array(vec![
        Value::from("a"),
        Value::Object(vec![("k".into(), Value::Null)]),
    ]);
    assert_eq!(c.call("apply", &[echo, nested.clone()]).unwrap(), nested);
}

/// The timeout covers the whole evaluation, host calls included.
#[rstest]
fn the_timeout_covers_host_calls(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, false, false);
    c.expose("tick", Arc::new(|_| Ok(Value::Undefined)))
        .unwrap();
    assert_eq!(
        eval_until_timeout(&mut c, Duration::from_millis(100), "for (;;) { tick() }"),
        Err(Error::Timeout)
    );
    assert_eq!(c.eval("tick(); 1").unwrap(), Value::from(1));
}

/// A worker's host-function calls cross its channel one at a time, in the
/// middle of an evaluation, with values both ways (handles included).
#[test]
fn host_functions_cross_the_process_channel() {
    let mut c = context_with(Isolation::Process, true, false);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    c.expose(
        "note",
        Arc::new(move |args: Vec<Value>| {
            let mut seen = record.lock().unwrap();
            seen.push(args.len());
            Ok(Value::from(seen.len()))
        }),
    )
    .unwrap();
    assert_eq!(
        c.eval("let n = 0; for (let i = 0; i < 100; i++) n = note(i, {i}); n")
            .unwrap(),
        Value::from(100)
    );
    assert_eq!(seen.lock().unwrap().len(), 100);
    assert!(seen.lock().unwrap().iter().all(|&n| n == 2));
}

#[rstest]
fn heap_snapshots_are_json_and_bounded(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut c = context_with(isolation, false, false);
    c.eval("var marker = {veryDistinctivePropertyName: 1}")
        .unwrap();
    let json = c.heap_snapshot().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert!(parsed["nodes"].as_array().is_some_and(|n| !n.is_empty()));
    assert!(json.contains("veryDistinctivePropertyName"));
    // Larger than the result bound: refused, and the context goes on.
    let mut small = Context::new(ContextOptions {
        max_result_bytes: 64 << 10,
        ..common::options(isolation)
    })
    .unwrap();
    assert!(matches!(small.heap_snapshot(), Err(Error::Conversion(_))));
    assert_eq!(small.eval("1 + 1").unwrap(), Value::from(2));
}

/// In-process, an ArrayBuffer handle lends its memory: writes on either
/// side are seen by the other, and the memory outlives a detach.
#[test]
fn array_buffer_memory_is_shared_while_the_handle_lives() {
    let mut c = context_with(Isolation::InProcess, true, false);
    let buffer = c
        .eval("var sab = new SharedArrayBuffer(8); new Uint8Array(sab)[1] = 7; sab")
        .unwrap();
    let Value::Handle(handle) = &buffer else {
        panic!("{buffer:?}")
    };
    assert_eq!(handle.kind(), HandleKind::ArrayBuffer);
    let (address, length) = c.buffer_memory(&buffer).unwrap();
    assert_eq!(length, 8);
    // SAFETY: the context lends these 8 bytes while `buffer` is held, and
    // no JavaScript runs during these accesses.
    let memory = unsafe { std::slice::from_raw_parts_mut(address, length) };
    assert_eq!(memory[1], 7);
    memory[2] = 9;
    assert_eq!(c.eval("new Uint8Array(sab)[2]").unwrap(), Value::from(9));
    // Detached (growing a WebAssembly memory detaches its old buffer): the
    // lent memory stays allocated.
    let old = c
        .eval("var memory = new WebAssembly.Memory({initial: 1}); memory.buffer")
        .unwrap();
    let (address, length) = c.buffer_memory(&old).unwrap();
    assert_eq!(length, 65536);
    assert_eq!(
        c.eval("var old = memory.buffer; memory.grow(1); old.byteLength")
            .unwrap(),
        Value::from(0)
    );
    // SAFETY: as above; the lent store is kept after the detach.
    let memory = unsafe { std::slice::from_raw_parts_mut(address, length) };
    memory[length - 1] = 1;
    // Not a buffer; process contexts copy buffers as bytes.
    let object = c.eval("({})").unwrap();
    assert!(matches!(
        c.buffer_memory(&object),
        Err(Error::InvalidInput(_))
    ));
    let mut remote = context_with(Isolation::Process, true, false);
    assert_eq!(
        remote.eval("new Uint8Array([1, 2]).buffer").unwrap(),
        Value::Bytes(vec![1, 2])
    );
}
