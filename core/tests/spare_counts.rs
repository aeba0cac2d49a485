//! `set_spare_contexts(n)`: n warm spares, in-process isolates and worker
//! processes alike, never more; 0 keeps none. One test, in a binary of its
//! own: the count is process-wide.

use v8cage::testing::spares_kept;
use v8cage::{Context, ContextOptions, Isolation, Value};

fn fresh(options: &ContextOptions) {
    let mut ctx = Context::new(options.clone()).unwrap();
    assert_eq!(ctx.eval("typeof mark"), Ok(Value::from("undefined")));
    ctx.eval("globalThis.mark = 1").unwrap();
}

#[test]
fn the_spare_count_holds_in_process_and_for_workers() {
    let in_process = ContextOptions::default();
    let process = ContextOptions {
        isolation: Isolation::Process,
        ..ContextOptions::default()
    };
    v8cage::set_spare_contexts(3);
    v8cage::prestart_context(&in_process).unwrap();
    assert_eq!(spares_kept().0, 3);
    // Again: filled up to the count, never past it.
    v8cage::prestart_context(&in_process).unwrap();
    assert_eq!(spares_kept().0, 3);
    for _ in 0..5 {
        fresh(&in_process);
    }
    // Other limits: the spares are made for those now, as many.
    let small = ContextOptions {
        heap_limit: Some(48 << 20),
        ..ContextOptions::default()
    };
    v8cage::prestart_context(&small).unwrap();
    assert_eq!(spares_kept().0, 3);
    fresh(&small);

    v8cage::prestart_context(&process).unwrap();
    assert_eq!(spares_kept().1, 3);
    for _ in 0..4 {
        fresh(&process);
    }

    v8cage::set_spare_contexts(1);
    assert!(spares_kept().0 <= 1 && spares_kept().1 <= 1);
    v8cage::set_spare_contexts(0);
    assert_eq!(spares_kept(), (0, 0));
    fresh(&in_process);
    fresh(&process);
    assert_eq!(spares_kept(), (0, 0), "none made with the count at 0");
    v8cage::prestart_context(&in_process).unwrap();
    v8cage::prestart_context(&process).unwrap();
    assert_eq!(spares_kept(), (0, 0), "prestarting makes none either");
}
