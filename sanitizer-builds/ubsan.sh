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
# A V8 prefix with its own clang (bin/clang++: the current V8's libc++
# headers need clang >= 21) compiles the shim with it (core/build.rs);
# clang links either way, with its UBSan runtime.
[ -x "${V8CAGE_V8_DIR:-}/bin/clang++" ] || export CXX="${CLANG/clang/clang++}"
export RUSTFLAGS="-Clinker=$CLANG -Clink-arg=-fsanitize=undefined -Cforce-frame-pointers=yes"
export CARGO_TARGET_DIR="$OUT_DIR"
export UBSAN_OPTIONS="print_stacktrace=1:symbolize=1:external_symbolizer_path=$LLVM_SYMBOLIZER:halt_on_error=1:abort_on_error=1:disable_coredump=0:report_error_type=1:${UBSAN_OPTIONS_EXTRA:-}"

cargo_test=(cargo test --target "$TRIPLE" -p v8cage -p v8cage-harness)

[ "$PLANTED" = 1 ] && planted_job planted_signed_overflow planted_misaligned_load
cargo_test_job --tests
