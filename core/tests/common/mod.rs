//! Shared by the integration tests that involve time.
//!
//! The rule: a test must not depend on how much CPU it gets. Everything
//! that is not meant to time out runs under [`generous`]; a short timeout
//! is set only around an evaluation that can end no other way
//! ([`eval_until_timeout`]), so only a bug can make such a test fail.
#![allow(dead_code)] // each test binary uses a part

use std::time::Duration;

use v8cage::{Context, ContextOptions, Error, Isolation, Value};

/// A generous time bound, multiplied by `V8CAGE_TEST_TIME_SCALE` (default 1).
/// The sanitizer and valgrind jobs set it: everything runs 2-50x slower
/// there, and the bounds exist to catch hangs, not to measure speed.
pub fn scaled(bound: Duration) -> Duration {
    bound * time_scale()
}

/// `V8CAGE_TEST_TIME_SCALE`, at least 1. Tests that repeat something many
/// times to catch a rare race divide their count by it.
pub fn time_scale() -> u32 {
    std::env::var("V8CAGE_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1)
}

/// A timeout no healthy evaluation reaches, however loaded the machine.
pub fn generous() -> Duration {
    scaled(Duration::from_secs(60))
}

/// Default options for `isolation`. A process context's worker gets the
/// generous grace before the host kills it, so a slow machine cannot turn a
/// timeout into a lost context (the tests of the hard deadline set their own).
pub fn options(isolation: Isolation) -> ContextOptions {
    ContextOptions {
        isolation,
        kill_grace: generous(),
        ..Default::default()
    }
}

/// A context with default limits.
pub fn context(isolation: Isolation) -> Result<Context, Error> {
    Context::new(options(isolation))
}

/// A context with default limits and the generous timeout.
pub fn generous_context(isolation: Isolation) -> Context {
    Context::new(ContextOptions {
        timeout: Some(generous()),
        ..options(isolation)
    })
    .expect("a context")
}

/// Evaluates `source`, which can only end by its timeout (or a bug), under
/// `short`, then puts the generous timeout back.
pub fn eval_until_timeout(
    ctx: &mut Context,
    short: Duration,
    source: &str,
) -> Result<Value, Error> {
    ctx.set_timeout(Some(short));
    let result = ctx.eval(source);
    ctx.set_timeout(Some(generous()));
    result
}

/// A figure of this process from /proc/self/status (`VmRSS`, `VmHWM`), in bytes.
pub fn proc_status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    kib << 10
}

/// Asks `handle` to terminate, over and over from another thread, until
/// [`Terminator::stop`]: an evaluation started in between is terminated
/// however late it gets going, with no sleep to guess when.
pub struct Terminator {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

pub fn keep_terminating(handle: v8cage::TerminateHandle) -> Terminator {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = std::sync::Arc::clone(&done);
    let thread = std::thread::spawn(move || {
        while !seen.load(std::sync::atomic::Ordering::Acquire) {
            handle.terminate();
            std::thread::yield_now();
        }
    });
    Terminator { done, thread }
}

impl Terminator {
    pub fn stop(self) {
        self.done.store(true, std::sync::atomic::Ordering::Release);
        self.thread.join().expect("the terminating thread");
    }
}
