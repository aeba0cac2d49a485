//! Creating, using and dropping contexts does not leak. Its own test binary,
//! so no other test's allocations move the RSS figure.

use v8cage::{Context, ContextOptions, Value};

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line");
    kb * 1024
}

fn cycle(i: usize) {
    let mut ctx = Context::new(ContextOptions {
        heap_limit: Some(16 << 20),
        ..Default::default()
    })
    .unwrap();
    let v = ctx
        .eval(&format!(
            "const o = {{ i: {i}, s: 'x'.repeat(100), a: [1, 2, 3] }}; o"
        ))
        .unwrap();
    assert!(matches!(v, Value::Object(_)));
    assert_eq!(
        ctx.call("Math.max", &[Value::from(i), Value::from(1)])
            .unwrap(),
        Value::from(i.max(1))
    );
}

#[test]
fn five_thousand_contexts_grow_rss_by_under_20_mib() {
    // Warm-up: V8's process-wide state, allocator arenas, the watchdog.
    for i in 0..200 {
        cycle(i);
    }
    let before = rss_bytes();
    for i in 0..5000 {
        cycle(i);
    }
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    eprintln!("RSS before {} MiB, after {} MiB", before >> 20, after >> 20);
    assert!(
        growth < 20 << 20,
        "RSS grew by {} MiB over 5000 contexts",
        growth >> 20
    );
}
