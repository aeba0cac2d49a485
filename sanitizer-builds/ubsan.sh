#!/usr/bin/env bash
# UndefinedBehaviorSanitizer over the shim (the only C++), under the core
# tests: clang -fsanitize=undefined -fno-sanitize-recover=all, so the first
# report aborts the test binary. Rust has no UBSan; its UB is what ASan, TSan,
# valgrind and the type system cover. See README.md in this directory.
JOB=ubsan
source "$(dirname "$0")/common.sh"
parse_args "$@"
ensure_clang
ensure_v8

# core/build.rs instruments the shim for V8CAGE_SHIM_SANITIZE; clang links
# the UBSan runtime into the test binaries.
export V8CAGE_SHIM_SANITIZE=undefined
export CXX="${CLANG/clang/clang++}"
export RUSTFLAGS="-Clinker=$CLANG -Clink-arg=-fsanitize=undefined -Cforce-frame-pointers=yes"
export CARGO_TARGET_DIR="$ROOT/target/sanitize/ubsan"
export UBSAN_OPTIONS="print_stacktrace=1:symbolize=1:external_symbolizer_path=$LLVM_SYMBOLIZER:halt_on_error=1:abort_on_error=1:disable_coredump=0:report_error_type=1:${UBSAN_OPTIONS_EXTRA:-}"

cargo_test=(cargo test --target "$TRIPLE" -p v8cage)

run_planted_one() { run_logged "$1" --exact "$2" --test-threads=1; }

if [ "$PLANTED" = 1 ]; then
    run_logged "${cargo_test[@]}" --features planted-bugs --test planted --no-run || finish 2 "build failed"
    run_planted "$(test_binary planted)" planted_signed_overflow planted_misaligned_load
    finish $? "$(report_summary)"
fi

run_logged "${cargo_test[@]}" --tests --no-fail-fast
status=$?
check_built
[ "$(report_kinds | wc -l)" = 0 ] || status=1
finish "$status" "$(report_summary), $(failed_tests) test failures"
