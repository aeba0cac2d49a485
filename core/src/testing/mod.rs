//! What exists only to test v8cage, fenced off from the product: nothing here
//! is compiled without its cargo feature, and nothing is documented.
//!
//! - `planted` (feature `planted-bugs`): deliberate bugs the sanitizer jobs
//!   must report (`core/shim/testing/planted_bugs.cc`).
//! - [`raw_eval`] (feature `bench-floor`): bare V8, the floor `cargo bench`
//!   compares v8cage's eval with (`core/shim/testing/bench_raw_eval.cc`).
//! - `sandbox` (feature `sandbox-probes`): a worker that tries what a
//!   compromised one would (open a file, a socket, exec a shell), and a
//!   worker without its seccomp filter, to show the probes can succeed.
//! - [`worker_reply`] (feature `reply-decoder`): the host's decoding of a
//!   worker's reply, for the fuzz target that plays a hostile worker.
//! - [`enable_fuzzing_natives`] (feature `fuzzing-natives`): V8's intrinsics
//!   (`%OptimizeFunctionOnNextCall`, ...) for the fuzz harness, which
//!   `set_flags` refuses to everyone else, and [`optimized_status_bit`].
//! - [`spares_kept`] (feature `spare-counts`): the warm spares kept now.

#[cfg(feature = "planted-bugs")]
pub mod planted;
#[cfg(feature = "sandbox-probes")]
pub mod sandbox;
#[cfg(feature = "reply-decoder")]
pub mod worker_reply;

/// V8's flags for fuzzing with intrinsics: `%Name(...)` calls parse, and
/// `--fuzzing` keeps them to V8's allow-list for fuzzers (the rest become
/// `undefined`), each failing softly on bad arguments instead of aborting.
#[cfg(feature = "fuzzing-natives")]
pub const FUZZING_NATIVES: &str = "--allow-natives-syntax --fuzzing";

/// Starts V8 (in this process and its workers) with [`FUZZING_NATIVES`].
/// Before the first context; `Ok` again after it if V8 started with them.
#[cfg(feature = "fuzzing-natives")]
pub fn enable_fuzzing_natives() -> Result<(), crate::Error> {
    crate::engine::add_unrefused_flags(FUZZING_NATIVES)
}

/// The bit of `%GetOptimizationStatus(f)` that says `f` runs optimised
/// code, on the V8 running: V8 moved it (1 << 4 in 10.2; 1 << 3 in 15.2,
/// where 1 << 4 says Maglev).
#[cfg(feature = "fuzzing-natives")]
pub fn optimized_status_bit() -> u32 {
    if crate::engine::v8_version().starts_with("10.") {
        1 << 4
    } else {
        1 << 3
    }
}

/// The bit of `%GetOptimizationStatus(f)` that says `f` runs Maglev's
/// code, on a V8 that has Maglev (not 10.2).
#[cfg(feature = "fuzzing-natives")]
pub fn maglev_status_bit() -> Option<u32> {
    (!crate::engine::v8_version().starts_with("10.")).then_some(1 << 4)
}

#[cfg(feature = "bench-floor")]
mod bench_floor {
    use crate::ffi::RawIsolate;

    extern "C" {
        pub fn v8cage_bench_raw_eval(
            iso: *mut RawIsolate,
            src: *const std::os::raw::c_char,
            len: usize,
            iterations: u64,
        ) -> u64;
    }
}

/// Compiles and runs `source` `iterations` times in `ctx`'s isolate straight
/// against V8 (no conversion, no limits). Returns the successful runs
/// (none for a process context).
#[cfg(feature = "bench-floor")]
pub fn raw_eval(ctx: &mut crate::Context, source: &str, iterations: u64) -> u64 {
    let Some(iso) = ctx.raw_isolate() else {
        return 0;
    };
    // SAFETY: the isolate pointer is valid while `ctx` lives, and `&mut`
    // keeps any other call off it; the source is read-only for the call.
    unsafe {
        bench_floor::v8cage_bench_raw_eval(iso, source.as_ptr().cast(), source.len(), iterations)
    }
}

/// The warm spares kept right now: (in-process isolates, worker processes).
#[cfg(feature = "spare-counts")]
pub fn spares_kept() -> (usize, usize) {
    (
        crate::spare::spares_kept(),
        crate::process::spare_workers_kept(),
    )
}
