#!/usr/bin/env bash
# MemorySanitizer over the core tests. Honest MSan needs every byte that runs
# instrumented, or it reports V8's own (correct) stores as uninitialised:
#   - a V8 built with MemorySanitizer and its MSan libc++ (`cargo xtask v8 build msan`),
#     given by V8CAGE_V8_DIR (`cargo xtask sanitize msan` finds the cached one:
#     include/ with v8.h and c++/v1/, lib/ with libv8*.so and libc++.so),
#   - nightly with the rust-src component, so std is rebuilt with
#     -Zsanitizer=memory (-Zbuild-std),
#   - clang for the shim.
# When any is missing the job says exactly which and exits 3 — it never
# passes without running. README.md in this directory says how
# the MSan V8 is built.
JOB=msan
source "$(dirname "$0")/common.sh"
parse_args "$@"

missing=()
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    missing+=("the nightly toolchain: rustup toolchain install nightly")
elif ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    missing+=("rust-src for nightly (needed by -Zbuild-std): rustup component add rust-src --toolchain nightly")
fi
v8_dir="${V8CAGE_V8_DIR:-}"
v8_lib=""
if [ -z "$v8_dir" ]; then
    missing+=("V8CAGE_V8_DIR: an MSan-built V8 (Debian's libnode is not instrumented): cargo xtask v8 build msan, hours")
else
    v8_lib="$(ls "$v8_dir"/lib/libv8.so "$v8_dir"/lib/libnode.so 2>/dev/null | head -1)"
    if [ ! -f "$v8_dir/include/v8.h" ] || [ -z "$v8_lib" ]; then
        missing+=("V8CAGE_V8_DIR=$v8_dir: include/v8.h and lib/libv8.so (or lib/libnode.so)")
    # `grep -q` would stop at the first match and nm would die of SIGPIPE,
    # which pipefail turns into "not instrumented".
    elif ! nm -D "$v8_lib" 2>/dev/null | grep '__msan_' >/dev/null; then
        missing+=("$v8_lib is not built with MemorySanitizer (no __msan_ symbols): build it with cargo xtask v8 build msan")
    fi
    if [ ! -f "$v8_dir/lib/libc++.so" ] || [ ! -d "$v8_dir/include/c++/v1" ]; then
        missing+=("V8CAGE_V8_DIR=$v8_dir: lib/libc++.so and include/c++/v1 (the MSan libc++ of that V8 build)")
    fi
fi
find_clang || missing+=("clang with its runtimes: apt-get install ${CLANG_PACKAGES[*]}")

if [ "${#missing[@]}" -gt 0 ]; then
    for item in "${missing[@]}"; do say "missing: $item"; done
    finish 3 "not run: ${#missing[@]} prerequisites missing (see the lines above and README.md)"
fi

export CARGO_TARGET_DIR="$OUT_DIR"
# The shim compiles against the same instrumented libc++ as V8 (its ABI too);
# the cc crate then links that libc++ instead of libstdc++.
export CXX="${CLANG/clang/clang++}"
export CXXFLAGS="-nostdinc++ -isystem $v8_dir/include/c++/v1 -stdlib=libc++"
export CXXSTDLIB=c++
# Other C built by the cc crate (QuickJS, under the harness's second-engine
# oracle) runs instrumented as well, or its stores look uninitialised.
export CC="$CLANG"
# One convention for argument and return-value shadow everywhere: the MSan V8
# is built with -fno-sanitize-memory-param-retval (its arm64 simulator passes
# unused uninitialised arguments), which passes shadow through TLS; code that
# checks eagerly instead (clang's and rustc's default) leaves that TLS stale,
# and V8 then reported every first API call (Locker, String::NewFromUtf8:
# 18 reports, origin "invalid") in the first clean run against it. So the
# shim (core/build.rs), other C and Rust with its std pass shadow the same way.
export CFLAGS="-fsanitize=memory -fsanitize-memory-track-origins -fno-sanitize-memory-param-retval"
export RUSTFLAGS="-Zsanitizer=memory -Zsanitizer-memory-track-origins -Cllvm-args=-msan-eager-checks=0 -Cforce-frame-pointers=yes -Lnative=$v8_dir/lib -Clink-arg=-Wl,-rpath,$v8_dir/lib"
export MSAN_OPTIONS="symbolize=1:external_symbolizer_path=$LLVM_SYMBOLIZER:halt_on_error=1:abort_on_error=1:disable_coredump=0:${MSAN_OPTIONS_EXTRA:-}"
export V8CAGE_TEST_TIME_SCALE="${V8CAGE_TEST_TIME_SCALE:-4}"

cargo_test=(cargo +nightly test -Zbuild-std --target "$TRIPLE" -p v8cage -p v8cage-harness)

[ "$PLANTED" = 1 ] && planted_job planted_uninit_read planted_uninit_into_v8
# Every core test; V8CAGE_MSAN_TESTS (test binary names) runs only those: the
# quick proof of `cargo xtask test --full`. V8's JIT code runs on its arm64
# simulator here, so JS-heavy tests take minutes each.
if [ -n "${V8CAGE_MSAN_TESTS:-}" ]; then
    test_args=()
    for t in $V8CAGE_MSAN_TESTS; do test_args+=(--test "$t"); done
    cargo_test_job "${test_args[@]}"
fi
cargo_test_job --tests
