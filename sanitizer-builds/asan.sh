#!/usr/bin/env bash
# AddressSanitizer + LeakSanitizer over the core tests, the corpus replay of
# every fuzz target included. Rust is built with -Zsanitizer=address
# (nightly), the shim with clang -fsanitize=address (core/build.rs reads
# CARGO_CFG_SANITIZE). See README.md in this directory.
JOB=asan
source "$(dirname "$0")/common.sh"
parse_args "$@"
ensure_nightly
ensure_clang
ensure_v8

# No rust-src here, so std is not rebuilt with the sanitizer (-Zbuild-std);
# mixing instrumented and uninstrumented crates then needs the ABI override.
export RUSTFLAGS="-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer -Cforce-frame-pointers=yes"
export CARGO_TARGET_DIR="$OUT_DIR"
export ASAN_SYMBOLIZER_PATH="$LLVM_SYMBOLIZER"
# abort_on_error: a crash leaves a core dump when `ulimit -c unlimited`
# (disable_coredump=0 keeps ASan from turning that off).
export ASAN_OPTIONS="symbolize=1:detect_leaks=1:abort_on_error=1:disable_coredump=0:print_summary=1:${ASAN_OPTIONS_EXTRA:-}"
export LSAN_OPTIONS="suppressions=$SANITIZER_DIR/lsan.supp:print_suppressions=0:report_objects=1"
# Sanitizer builds run slower: the tests' own generous time bounds scale.
export V8CAGE_TEST_TIME_SCALE="${V8CAGE_TEST_TIME_SCALE:-4}"

cargo_test=(cargo +nightly test --target "$TRIPLE" -p v8cage -p v8cage-harness)

[ "$PLANTED" = 1 ] && planted_job planted_heap_overflow planted_use_after_free planted_leak
# --tests: unit and integration tests; doctests would be compiled by rustdoc
# without the sanitizer and cannot link against the instrumented library.
cargo_test_job --tests
