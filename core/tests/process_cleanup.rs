//! Creating and dropping process contexts leaves nothing behind: no child
//! processes (running or zombie) beyond the pool's one spare, and no file
//! descriptors. A binary of its own, so no other test's workers are
//! counted.

mod common;

use v8cage::{Context, ContextOptions, Isolation, Value};

/// This process's children: (all, zombies), from every `/proc/<pid>/stat`.
fn children() -> (usize, usize) {
    let me = std::process::id().to_string();
    let (mut all, mut zombies) = (0, 0);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1) == Some(&me.as_str()) {
            all += 1;
            zombies += usize::from(fields[0] == "Z");
        }
    }
    (all, zombies)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_thousand_contexts_leave_no_children_or_descriptors() {
    let options = ContextOptions {
        isolation: Isolation::Process,
        ..Default::default()
    };
    // Starts the pool (its thread and first spare).
    drop(Context::new(options.clone()).unwrap());
    let fds_before = open_fds();
    let cycles = (1000 / common::time_scale()).max(50);
    for i in 0..cycles {
        let mut ctx = Context::new(options.clone()).unwrap();
        if i % 10 == 0 {
            assert_eq!(ctx.eval("1 + 1"), Ok(Value::Number(2.0)));
        }
        drop(ctx);
        let (_, zombies) = children();
        assert_eq!(zombies, 0, "a dropped context left a zombie (cycle {i})");
    }
    let (all, zombies) = children();
    assert_eq!(zombies, 0);
    // The spare, and perhaps the next one being started.
    assert!(all <= 2, "{all} child processes after {cycles} contexts");
    // The same allowance in descriptors: 3 per worker (channel, control, stderr).
    let fds_after = open_fds();
    assert!(
        fds_after <= fds_before + 6,
        "descriptors grew from {fds_before} to {fds_after} over {cycles} contexts"
    );
}
