//! Writes the seeds of the `worker_reply` target to `corpus/worker_reply/`:
//! the reply frames a worker sends for a range of results and errors
//! (taken from an in-process context, byte for byte what a worker writes),
//! plus replies no honest worker sends (lying lengths; deep nesting, in
//! `corpus/regressions/worker_reply/`).
//!
//! `cargo run -p v8cage-harness --example worker_reply_seeds`

use std::path::Path;

use v8cage::testing::worker_reply::frame_for;
use v8cage::{Context, ContextOptions};

const SOURCES: &[(&str, &str)] = &[
    ("number", "1.5"),
    ("undefined", "undefined"),
    ("mixed-array", "[1, 'a', null, true, [2, [3]], {b: -0}]"),
    ("object", "({a: 1, b: 'two', c: {d: [null]}, e: undefined})"),
    ("holes", "[1, , 3, , ]"),
    ("bigint", "2n ** 130n - 7n"),
    ("negative-bigint", "-(2n ** 64n)"),
    ("date", "new Date(0)"),
    ("bytes", "new Uint8Array([0, 1, 255, 7])"),
    ("function", "(function named() {})"),
    ("string-unicode", "'nul\\0 astral \\u{1F600} lone \\uD800'"),
    ("syntax-error", "let let = 1"),
    ("exception", "throw new TypeError('bad ' + 'thing')"),
    ("throw-value", "throw {x: 1}"),
    ("timeout", "while (true) {}"),
    ("conversion", "Symbol('s')"),
    (
        "out-of-memory",
        "{ const a = []; for (;;) a.push(new Array(1e5).fill(1)) }",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/worker_reply");
    std::fs::create_dir_all(&out)?;
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(std::time::Duration::from_millis(50)),
        heap_limit: Some(16 << 20),
        ..v8cage_harness::worker_reply_options()
    })?;
    for (name, source) in SOURCES {
        let frame = frame_for(&mut ctx, source).ok_or("an in-process context")?;
        std::fs::write(out.join(format!("{name}.bin")), frame)?;
    }
    // What only a lying worker sends. 7,000 nested arrays fit the host-bytes
    // budget and decoded 7,000 deep before the reader bounded depth; at the
    // default limits millions would, and dropping such a `Value` recurses
    // once per level (a stack overflow in the host).
    let regressions = out.join("../regressions/worker_reply");
    std::fs::create_dir_all(&regressions)?;
    std::fs::write(
        regressions.join("deep-array-overflows-the-stack-on-drop"),
        framed(&[0, 0, 0, 0], &nested(7, 7_000)),
    )?;
    std::fs::write(out.join("length-over-bound.bin"), u32::MAX.to_le_bytes())?;
    std::fs::write(
        out.join("length-past-end.bin"),
        framed(&[0; 4], &[6, 0xff, 0xff, 0xff, 0x7f]),
    )?;
    std::fs::write(
        out.join("unknown-status.bin"),
        framed(&99i32.to_le_bytes(), &[]),
    )?;
    Ok(())
}

/// A frame: body length, status, output.
fn framed(status: &[u8], output: &[u8]) -> Vec<u8> {
    let mut frame = ((status.len() + output.len()) as u32)
        .to_le_bytes()
        .to_vec();
    frame.extend_from_slice(status);
    frame.extend_from_slice(output);
    frame
}

/// `levels` one-element arrays around `undefined`, with `tag` as the array tag.
fn nested(tag: u8, levels: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(levels * 5 + 1);
    for _ in 0..levels {
        out.push(tag);
        out.extend_from_slice(&1u32.to_ne_bytes());
    }
    out.push(0);
    out
}
