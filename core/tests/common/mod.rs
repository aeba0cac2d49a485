//! Shared by the integration tests that assert time bounds.

use std::time::Duration;

/// A generous time bound, multiplied by `V8CAGE_TEST_TIME_SCALE` (default 1).
/// The sanitizer and valgrind jobs set it: everything runs 2-50x slower
/// there, and the bounds exist to catch hangs, not to measure speed.
pub fn scaled(bound: Duration) -> Duration {
    let scale = std::env::var("V8CAGE_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1);
    bound * scale
}
