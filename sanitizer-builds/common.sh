# Shared by every job script in sanitizer-builds/ (sourced, not run).
#
# A job script sets JOB, sources this file, and calls the helpers below.
# Exit status of every job: 0 no report and every test passed; 1 a report or
# a failed test; 2 the job could not run (bad arguments, build failure);
# 3 prerequisites missing (only msan.sh, which needs an instrumented V8).

set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SANITIZER_DIR="$ROOT/sanitizer-builds"
TRIPLE="x86_64-unknown-linux-gnu"
PLANTED=0
STARTED=$SECONDS

usage() {
    echo "usage: sanitizer-builds/$JOB.sh [--planted]" >&2
    echo "  --planted  build with the planted-bugs feature and run only the planted" >&2
    echo "             bugs of this job's classes, each in its own process; every" >&2
    echo "             one must be reported, so the job exits 1." >&2
    exit 2
}

parse_args() {
    for arg in "$@"; do
        case "$arg" in
            --planted) PLANTED=1 ;;
            -h | --help) usage ;;
            *) echo "unknown argument: $arg" >&2; usage ;;
        esac
    done
    # Build and logs per job, and per V8 when the caller names one
    # (`cargo xtask sanitize-prove --v8 current`: V8CAGE_SANITIZE_V8=v8-15.2).
    OUT_DIR="$ROOT/target/sanitize/$JOB${V8CAGE_SANITIZE_V8:+-$V8CAGE_SANITIZE_V8}"
    mkdir -p "$OUT_DIR"
    if [ "$PLANTED" = 1 ]; then LOG="$OUT_DIR/$JOB-planted.log"; else LOG="$OUT_DIR/$JOB.log"; fi
    : >"$LOG"
    # Crashes leave evidence: sanitizers abort (core dump if `ulimit -c
    # unlimited` and disable_coredump=0, see README.md), reports are symbolized.
    cd "$ROOT" || exit 2
}

say() { echo "sanitizer-builds/$JOB: $*" | tee -a "$LOG" >&2; }

# The last line of every job: result, reports by kind, tests, wall time.
finish() {
    local status=$1 detail=$2
    local result=PASS
    [ "$status" = 0 ] || result=FAIL
    [ "$status" = 3 ] && result=MISSING-PREREQUISITES
    [ "$status" = 2 ] && result=ERROR
    local mode=""
    [ "$PLANTED" = 1 ] && mode=" [planted bugs]"
    echo "sanitizer-builds/$JOB: $result$mode — $detail — $((SECONDS - STARTED)) s (log: ${LOG#"$ROOT"/})" | tee -a "$LOG"
    exit "$status"
}

ensure_nightly() {
    if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        say "installing the nightly toolchain (needed for -Zsanitizer)"
        rustup toolchain install nightly --profile minimal >>"$LOG" 2>&1 ||
            finish 2 "cannot install the nightly toolchain (rustup toolchain install nightly)"
    fi
}

# -Zbuild-std needs the std sources; rustup fetches them like a toolchain.
ensure_rust_src() {
    if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
        say "adding rust-src to nightly (std is rebuilt with the sanitizer)"
        rustup component add rust-src --toolchain nightly >>"$LOG" 2>&1 ||
            finish 2 "cannot add rust-src: rustup component add rust-src --toolchain nightly"
    fi
}

# Can clang-$1 build and link a program with the UBSan runtime (the check
# for compiler-rt, which clang-N alone does not pull in)?
clang_usable() {
    command -v "clang-$1" >/dev/null &&
        [ -x "/usr/lib/llvm-$1/bin/llvm-symbolizer" ] &&
        echo 'int main(void) { return 0; }' |
        "clang-$1" -x c - -fsanitize=undefined -o /dev/null >/dev/null 2>&1
}

# Sets CLANG and LLVM_SYMBOLIZER to the newest usable clang; installs
# clang-19 (+ llvm-19 for the symbolizer, libclang-rt-19-dev for the
# runtimes) from apt when none is found and we are root.
CLANG_PACKAGES=(clang-19 llvm-19 libclang-rt-19-dev)

# Sets CLANG and LLVM_SYMBOLIZER to the newest usable clang; 1 if none.
find_clang() {
    local version
    for version in 19 18 17 16 15 14; do
        if clang_usable "$version"; then
            CLANG="clang-$version"
            LLVM_SYMBOLIZER="/usr/lib/llvm-$version/bin/llvm-symbolizer"
            return 0
        fi
    done
    return 1
}

ensure_clang() {
    find_clang && return
    if [ "$(id -u)" = 0 ]; then
        say "installing ${CLANG_PACKAGES[*]} (the shim's compiler, runtimes, symbolizer)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${CLANG_PACKAGES[@]}" >>"$LOG" 2>&1; then
            apt-get update >>"$LOG" 2>&1
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${CLANG_PACKAGES[@]}" >>"$LOG" 2>&1 ||
                finish 2 "cannot install ${CLANG_PACKAGES[*]} with apt-get"
        fi
        clang_usable 19 || finish 2 "clang-19 is installed but cannot link with -fsanitize=undefined"
        CLANG=clang-19
        LLVM_SYMBOLIZER=/usr/lib/llvm-19/bin/llvm-symbolizer
        return
    fi
    finish 2 "needs clang, its runtimes and llvm-symbolizer: sudo apt-get install ${CLANG_PACKAGES[*]}"
}

ensure_v8() {
    cargo xtask setup >>"$LOG" 2>&1 || finish 2 "cargo xtask setup failed (V8 not available), see the log"
}

# Runs a command with its output on stderr and in the log; returns its status.
run_logged() {
    echo "+ $*" >>"$LOG"
    "$@" 2>&1 | tee -a "$LOG" >&2
    return "${PIPESTATUS[0]}"
}

# One line per report in the log, naming its kind, e.g. "heap-buffer-overflow",
# "memory-leak", "data race", "signed integer overflow", "Invalid read".
report_kinds() {
    sed -nE \
        -e 's/.*ERROR: AddressSanitizer: ([A-Za-z-]+).*/\1/p' \
        -e 's/.*ERROR: LeakSanitizer: detected memory leaks.*/memory-leak/p' \
        -e 's/.*WARNING: ThreadSanitizer: ([a-z -]*[a-z]).*/\1/p' \
        -e 's/.*WARNING: MemorySanitizer: ([a-z-]+).*/\1/p' \
        -e 's/.*runtime error: (load of misaligned address|store to misaligned address|[a-z -]*[a-z]).*/\1/p' \
        -e 's/^==[0-9]+== (Invalid (read|write|free)).*/\1/p' \
        -e 's/^==[0-9]+== .*(depends on uninitialised value).*/\1/p' \
        -e 's/^==[0-9]+== .*(uninitialised byte\(s\)).*/\1/p' \
        -e 's/^==[0-9]+== .*are (definitely lost) in loss record.*/\1/p' \
        -e 's/^==[0-9]+== (Mismatched free).*/\1/p' \
        -e 's/^[^ ]+:[0-9]+:[0-9]+: (warning|error): .* \[([a-z]+-[A-Za-z0-9.,-]+)\]$/\2/p' \
        -e 's/.*error: (Undefined Behavior|memory leaked): .*/\1/p' \
        "$LOG"
}

# "N reports (kind ×n, ...)" or "0 reports".
report_summary() {
    local kinds count
    kinds="$(report_kinds | sort | uniq -c | sort -rn | awk '{n=$1; $1=""; sub(/^ /,""); printf "%s%s ×%d", sep, $0, n; sep=", "}')"
    count="$(report_kinds | wc -l)"
    if [ "$count" = 0 ]; then echo "0 reports"; else echo "$count reports ($kinds)"; fi
}

# Exit 2 when cargo could not build the tests: that is no sanitizer verdict.
check_built() {
    if grep -qE '^error(\[E[0-9]+\])?: (could not compile|linking with)' "$LOG"; then
        finish 2 "build failed, see the log"
    fi
}

# Failed test binaries and tests, from cargo test's output in the log.
failed_tests() {
    grep -cE '^test .* \.\.\. FAILED$|^error: test failed|process didn.t exit successfully' "$LOG" || true
}

# Set by the job: how cargo builds and runs its tests, and (valgrind) a
# command the test binaries run under.
cargo_test=()
RUNNER=()

# Planted mode: build with the planted-bugs feature, then run the planted
# tests of this job's classes (the arguments), each in its own process: a
# sanitizer that aborts at the first report would hide the rest. Ends the job.
planted_job() {
    run_logged "${cargo_test[@]}" --features v8cage/planted-bugs --test planted --no-run || finish 2 "build failed"
    local binary status=0 test
    binary="$(test_binary planted)"
    [ -n "$binary" ] || finish 2 "no planted test binary in the build output"
    for test in "$@"; do
        say "planted: $test"
        run_logged "${RUNNER[@]}" "$binary" --exact "$test" --test-threads=1 || status=1
    done
    finish "$status" "$(report_summary)"
}

# Clean mode: `cargo test` with the arguments, every binary even after a
# failure; any report or failed test fails the job. Ends the job.
cargo_test_job() {
    run_logged "${cargo_test[@]}" "$@" --no-fail-fast
    local status=$?
    check_built
    [ "$(report_kinds | wc -l)" = 0 ] || status=1
    finish "$status" "$(report_summary), $(failed_tests) test failures"
}

# The test binary cargo built for `--test <name>`, from its "Executable" line.
test_binary() {
    sed -nE "s/^ *Executable tests\/$1\.rs \((.*)\)$/\1/p" "$LOG" | tail -1
}
