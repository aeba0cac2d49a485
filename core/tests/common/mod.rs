//! Shared by the integration tests that assert time bounds.

use std::time::Duration;

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
