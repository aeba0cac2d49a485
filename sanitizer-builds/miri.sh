#!/usr/bin/env bash
# Miri over the pure-Rust parts of the core: its unit tests (the wire
# decoder and Value building, Value comparisons and serde, BigInt, the
# watchdog's bookkeeping with counting targets, the process protocol's frames
# and reply decoder, V8 flag checks), interpreted by `cargo +nightly miri`,
# which reports undefined behaviour (out-of-bounds, use after free, invalid
# values, data races between threads) and leaks. Tests that call the shim
# are compiled out under Miri (`#[cfg(not(miri))]`: Miri cannot run C++).
# --planted runs only the planted Rust UB, which must be reported.
JOB=miri
source "$(dirname "$0")/common.sh"
parse_args "$@"
ensure_nightly
ensure_v8

if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^miri'; then
    say "adding miri to nightly"
    rustup component add miri --toolchain nightly >>"$LOG" 2>&1 ||
        finish 2 "cannot add miri: rustup component add miri --toolchain nightly"
fi

export CARGO_TARGET_DIR="$OUT_DIR"
miri_test=(cargo +nightly miri test -p v8cage --lib)

if [ "$PLANTED" = 1 ]; then
    run_logged "${miri_test[@]}" --features v8cage/planted-bugs -- planted_rust_out_of_bounds_read
    status=$?
else
    # Everything but the watchdog with Miri's leak check; then the watchdog,
    # whose process-wide thread runs for the life of the process by design
    # (Miri counts a thread still running at exit like a leak).
    run_logged "${miri_test[@]}" -- --skip watchdog::
    status=$?
    MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-ignore-leaks" run_logged "${miri_test[@]}" -- watchdog::
    status=$((status | $?))
fi
check_built
[ "$(report_kinds | wc -l)" = 0 ] || status=1
finish "$status" "$(report_summary), $(failed_tests) test failures"
