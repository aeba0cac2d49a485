#!/usr/bin/env bash
# valgrind memcheck over the core test binaries (a normal stable build, no
# instrumentation): invalid reads/writes, uninitialised values reaching a
# branch or a syscall — across V8-linked code, which MSan cannot see here —
# and definite leaks, all of them errors. See README.md in this directory.
JOB=valgrind
source "$(dirname "$0")/common.sh"
parse_args "$@"
ensure_v8
if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind >>"$LOG" 2>&1 ||
            finish 2 "cannot install valgrind with apt-get"
    else
        finish 2 "needs valgrind: sudo apt-get install valgrind"
    fi
fi

export CARGO_TARGET_DIR="$OUT_DIR"
# Everything runs 20-50x slower and valgrind runs one thread at a time
# (a 100 ms timeout fired after 3 s): the tests' generous time bounds scale.
export V8CAGE_TEST_TIME_SCALE="${V8CAGE_TEST_TIME_SCALE:-100}"
# --smc-check: V8 writes and patches machine code in anonymous memory.
# Only definite leaks are errors: V8 keeps process-wide tables reachable.
# --fair-sched: valgrind runs one thread at a time, and without it a thread
# spinning in JS can starve another past its deadline.
memcheck=(valgrind --tool=memcheck --smc-check=all-non-file --error-exitcode=99 --fair-sched=yes
    --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --track-origins=yes --num-callers=30 --suppressions="$SANITIZER_DIR/valgrind.supp")

RUNNER=("${memcheck[@]}")
cargo_test=(cargo test -p v8cage)
[ "$PLANTED" = 1 ] && planted_job planted_heap_overflow planted_use_after_free planted_leak planted_uninit_read

# `leaks` creates 5,200 contexts to bound RSS (hours under valgrind; the leak
# check here replaces it) and `corpus` replays ~1,850 inputs (the asan job
# does); every other core test binary runs. V8CAGE_VALGRIND_TESTS overrides.
tests="${V8CAGE_VALGRIND_TESTS:-conversions hostile_results hostile_scripts input limits threads timeout}"
test_args=()
for t in $tests; do test_args+=(--test "$t"); done
run_logged "${cargo_test[@]}" "${test_args[@]}" --no-run || finish 2 "build failed"
status=0
ran=0
for t in $tests; do
    binary="$(test_binary "$t")"
    [ -n "$binary" ] || finish 2 "no test binary for $t"
    say "memcheck: $t"
    # One test at a time: valgrind serialises threads anyway, and a test
    # spinning until its (scaled) timeout must not eat another's deadline.
    run_logged "${RUNNER[@]}" "$binary" --test-threads=1 || status=1
    ran=$((ran + 1))
done
[ "$(report_kinds | wc -l)" = 0 ] || status=1
finish "$status" "$(report_summary), $ran test binaries, $(failed_tests) test failures"
