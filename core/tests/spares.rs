//! Warm spare isolates (`prestart_context`, `set_spare_contexts`): a context
//! handed a spare is a fresh one with exactly the limits it asked for.
//! Every test holds whether spares are on or off (one test turns them off
//! while the others run).

use v8cage::{Context, ContextOptions, Value};

fn with_heap_limit(bytes: usize) -> ContextOptions {
    ContextOptions {
        heap_limit: Some(bytes),
        ..Default::default()
    }
}

#[test]
fn a_context_from_a_spare_starts_empty() {
    v8cage::prestart_context(&ContextOptions::default()).unwrap();
    let mut first = Context::default_new().unwrap();
    first.eval("globalThis.mark = 1").unwrap();
    for _ in 0..3 {
        let mut next = Context::default_new().unwrap();
        assert_eq!(next.eval("typeof mark").unwrap(), Value::from("undefined"));
        next.eval("globalThis.mark = 2").unwrap();
    }
    assert_eq!(first.eval("mark").unwrap(), Value::from(1));
}

/// The spare is made for the limits asked for last; a context with other
/// limits must never get it.
#[test]
fn contexts_alternating_between_limits_each_get_their_own() {
    let (small, large) = (48 << 20, 768 << 20);
    v8cage::prestart_context(&with_heap_limit(small)).unwrap();
    for _ in 0..3 {
        let a = Context::new(with_heap_limit(large)).unwrap();
        let b = Context::new(with_heap_limit(small)).unwrap();
        let (a, b) = (a.heap_stats().limit, b.heap_stats().limit);
        assert!(b <= small * 2 && a > small * 2, "limits {a} and {b}");
    }
}

#[test]
fn contexts_work_with_spares_turned_off_and_on_again() {
    v8cage::set_spare_contexts(0);
    for i in 0..3 {
        let mut ctx = Context::default_new().unwrap();
        assert_eq!(ctx.eval(&format!("{i} + 1")).unwrap(), Value::from(i + 1));
    }
    v8cage::set_spare_contexts(1);
    v8cage::prestart_context(&ContextOptions::default()).unwrap();
    let mut ctx = Context::default_new().unwrap();
    assert_eq!(ctx.eval("'on'").unwrap(), Value::from("on"));
}
