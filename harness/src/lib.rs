//! v8cage's fuzz harness: one function per target, run unchanged by
//! libFuzzer (`fuzz/`), AFL (`afl/`), the corpus replay test
//! (`harness/tests/corpus.rs`) and `repro`. The product crate `v8cage` does
//! not know this crate; it only uses v8cage's public API.
//!
//! libnode's V8 is not coverage-instrumented, so coverage feedback only sees
//! this crate. The targets carry their own depth instead: structure-aware
//! generators ([`jsgen`], [`values`], [`ops`]) turn the fuzzer's bytes into
//! meaningful programs, values and API call sequences, and oracles check what
//! the results *mean*, not only that nothing crashed. A target panics when an
//! oracle fails; every driver reports a panic as a crash.
//!
//! Contexts are reused across inputs (one per target and thread): a fresh
//! isolate per input is ~45× slower and grows memory under ASan. A context is
//! replaced only when it reports its heap exhausted, which the core documents.

use std::fmt;

use v8cage::{Error, Value};

pub mod generators;
pub mod ops;
pub mod oracles;
pub mod planted;
mod quickjs;
mod targets;

pub use targets::{
    api_ops, config_diff, describe, differential_options, eval, eval_gen, fuzz_options, jit_diff,
    json, quickjs_diff, rerun_contained, roundtrip, run, scale_timeouts, worker_reply,
    worker_reply_options, Target, TARGETS,
};

/// Starts V8 the way every harness context needs it: with V8's intrinsics
/// under `--fuzzing` (`jit_diff` calls `%OptimizeFunctionOnNextCall`; in
/// the other targets they are more engine surface to reach). Called before
/// any harness context is made; panics if V8 already started without them
/// in this process (something made a context before the harness did).
/// Warm spare isolates are off: a background thread making isolates is
/// work and nondeterminism a fuzzer has no use for.
pub fn init_engine() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        v8cage::testing::enable_fuzzing_natives()
            .expect("the harness must start V8 (with intrinsics) before any other context");
        v8cage::set_spare_contexts(0);
    });
}

/// LeakSanitizer's built-in suppressions (its runtime calls this weak hook at
/// start-up): V8 never frees some process-wide allocations inside libnode (or
/// our own `libv8.so` from `cargo xtask v8 build`) by design, exactly what
/// `sanitizer-builds/lsan.supp` lists. Built into the
/// fuzz binaries because ClusterFuzzLite and OSS-Fuzz run them with their own
/// `LSAN_OPTIONS`; `fuzz/build.rs` keeps the linker from dropping it.
#[no_mangle]
pub extern "C" fn __lsan_default_suppressions() -> *const std::os::raw::c_char {
    c"leak:libnode.so\nleak:libv8.so\n".as_ptr()
}

/// What one target did with one input: each step's result. Only
/// `cargo xtask repro` looks at it (with [`describe`] for the input); drivers
/// drop it.
#[derive(Debug, Default)]
pub struct Outcome {
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct Step {
    pub what: String,
    pub result: Result<Value, Error>,
}

impl Outcome {
    /// An outcome of one step.
    pub(crate) fn single(what: &str, result: Result<Value, Error>) -> Outcome {
        let mut outcome = Outcome::default();
        outcome.step(what, result);
        outcome
    }

    pub(crate) fn step(&mut self, what: impl Into<String>, result: Result<Value, Error>) {
        self.steps.push(Step {
            what: what.into(),
            result,
        });
    }
}

/// The steps, one per line, each result clipped to 2000 bytes.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            let shown = format!("{:?}", step.result);
            writeln!(f, "{}: {}", step.what, clip(&shown, 2000))?;
        }
        Ok(())
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}
