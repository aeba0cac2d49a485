#!/usr/bin/env bash
# ThreadSanitizer over the threading tests (parallel contexts, terminate from
# another thread, drop while a handle is alive, the shared watchdog): Rust
# with -Zsanitizer=thread (nightly), the shim with clang -fsanitize=thread.
# See README.md in this directory.
JOB=tsan
source "$(dirname "$0")/common.sh"
parse_args "$@"
ensure_nightly
ensure_clang
ensure_v8

# std is rebuilt with the sanitizer (-Zbuild-std, needs rust-src): TSan must
# see the synchronisation inside std's Mutex, Condvar, Once and channels, or
# it reports every access they protect as a race.
ensure_rust_src
export RUSTFLAGS="-Zsanitizer=thread -Cforce-frame-pointers=yes"
export CARGO_TARGET_DIR="$OUT_DIR"
export TSAN_OPTIONS="suppressions=$SANITIZER_DIR/tsan.supp:external_symbolizer_path=$LLVM_SYMBOLIZER:symbolize=1:second_deadlock_stack=1:halt_on_error=0:exitcode=66:abort_on_error=1:disable_coredump=0:${TSAN_OPTIONS_EXTRA:-}"
export V8CAGE_TEST_TIME_SCALE="${V8CAGE_TEST_TIME_SCALE:-8}"

cargo_test=(cargo +nightly test -Zbuild-std --target "$TRIPLE" -p v8cage)

[ "$PLANTED" = 1 ] && planted_job planted_data_race
cargo_test_job --test threads --test timeout --test pinned
