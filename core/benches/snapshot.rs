//! `cargo bench -p v8cage --bench snapshot`: a context with a ~1 MB
//! library ready, started from a snapshot of it against evaluating the
//! library in a new context; cold (no spare isolate) and warm (the spare
//! made ahead, as when contexts are not created back to back). Prints the
//! ratios of this run at the end. Not part of the bench gate.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion};
use v8cage::{Context, ContextOptions, Isolation, Snapshot, Value};

/// A generated library of ~860 KB: 5,000 small functions, and at start-up
/// a 20,000-entry index and a derived list, as libraries build theirs.
fn library() -> String {
    let mut source = String::from("(function (root) {\n  const lib = {};\n");
    for i in 0..5000 {
        source.push_str(&format!(
            "  lib.f{i} = function f{i}(a, b) {{ const t = [a, b, {i}]; for (let i = 0; i < t.length; i++) \
             t[i] = (t[i] | 0) + i * {i}; return t.reduce((x, y) => x + y, 0) % 9973; }};\n"
        ));
    }
    source.push_str(
        "  lib.index = new Map();\n  for (let i = 0; i < 20000; i++) lib.index.set('key' + i, { i, sq: i * i, name: 'item' + i });\n  \
         lib.names = Object.keys(lib).filter(k => k.startsWith('f')).map(k => k.toUpperCase());\n  \
         root.lib = lib;\n})(globalThis);\n",
    );
    source
}

fn ready(ctx: &mut Context) {
    assert_eq!(ctx.eval("lib.f3(1, 2)").unwrap(), Value::from(15));
}

fn main() {
    let library = library();
    let snapshot = Snapshot::create(&library).expect("the library's snapshot");
    println!(
        "library {} bytes, snapshot {} bytes",
        library.len(),
        snapshot.len()
    );
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    for (mode, isolation) in [
        ("in_process", Isolation::InProcess),
        ("process", Isolation::Process),
    ] {
        let plain = ContextOptions {
            isolation,
            ..Default::default()
        };
        let from_snapshot = ContextOptions {
            snapshot: Some(snapshot.clone()),
            ..plain.clone()
        };
        for (warmth, spares) in [("cold", 0), ("warm", 1)] {
            v8cage::set_spare_contexts(spares);
            for (way, options) in [("eval_library", &plain), ("from_snapshot", &from_snapshot)] {
                c.bench_function(&format!("snapshot/{mode}/{warmth}/{way}"), |b| {
                    b.iter_batched(
                        || v8cage::prestart_context(options).unwrap(),
                        |()| {
                            let mut ctx = Context::new(options.clone()).unwrap();
                            if way == "eval_library" {
                                ctx.eval(&library).unwrap();
                            }
                            ready(&mut ctx);
                            ctx
                        },
                        BatchSize::PerIteration,
                    )
                });
            }
        }
    }
    v8cage::set_spare_contexts(1);
    c.final_summary();
    println!("\nlibrary ready in a new context, evaluated / from the snapshot (this run):");
    for mode in ["in_process", "process"] {
        for warmth in ["cold", "warm"] {
            let at = |way: &str| mean_ns(&format!("snapshot_{mode}_{warmth}_{way}"));
            if let (Some(evaluated), Some(snapshotted)) = (at("eval_library"), at("from_snapshot"))
            {
                println!(
                    "  {mode:<10} {warmth}: {:>8.2} ms / {:>6.2} ms = {:.1}x",
                    evaluated / 1e6,
                    snapshotted / 1e6,
                    evaluated / snapshotted
                );
            }
        }
    }
}

/// The mean criterion measured for `id` (its folder name) in this run.
fn mean_ns(id: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // target/release/deps/snapshot-… -> target
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })?;
    let text =
        std::fs::read_to_string(target.join("criterion").join(id).join("new/estimates.json"))
            .ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}
