#!/usr/bin/env bash
# Static analysis of the shim (the only C++): clang-tidy-19 with clang's
# static analyzer (clang-analyzer-*) and the bug-finding checks chosen in
# core/shim/.clang-tidy, over every file the shim builds from, with the
# include paths and language flags core/build.rs compiles it with. A finding
# is a report: fix it, or suppress it on its line (NOLINT) with the reason.
# --planted analyses core/shim/testing/planted_static.cc instead, whose bugs
# must all be reported. See README.md in this directory.
JOB=analyze
source "$(dirname "$0")/common.sh"
parse_args "$@"
ensure_v8

TIDY=clang-tidy-19
if ! command -v "$TIDY" >/dev/null; then
    [ "$(id -u)" = 0 ] || finish 2 "needs $TIDY: sudo apt-get install clang-tidy-19"
    say "installing clang-tidy-19"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang-tidy-19 >>"$LOG" 2>&1 ||
        { apt-get update >>"$LOG" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang-tidy-19 >>"$LOG" 2>&1; } ||
        finish 2 "cannot install clang-tidy-19 with apt-get"
fi

# V8's headers, found as core/build.rs finds them.
V8_INCLUDE=""
for dir in "${V8CAGE_V8_DIR:-/nonexistent}"/include "${V8CAGE_V8_DIR:-/nonexistent}"/include/node \
    "$ROOT/.deps/v8/usr/include/node" /usr/include/node; do
    if [ -f "$dir/v8.h" ]; then V8_INCLUDE="$dir"; break; fi
done
[ -n "$V8_INCLUDE" ] || finish 2 "no v8.h found (cargo xtask setup)"

# As core/build.rs compiles the shim (cc: C++17, C++20 from V8 12; no RTTI,
# -O2; a prefix's V8 configuration header and libc++ headers when it has them).
V8_MAJOR="$(sed -n 's/^#define V8_MAJOR_VERSION \([0-9]*\).*/\1/p' "$V8_INCLUDE/v8-version.h")"
STD=c++17
[ "${V8_MAJOR:-0}" -ge 12 ] && STD=c++20
FLAGS=(-x c++ "-std=$STD" -fno-rtti -O2 -I"$V8_INCLUDE" -I"$ROOT/core/shim")
[ -f "$V8_INCLUDE/v8-gn.h" ] && FLAGS+=(-DV8_GN_HEADER)
[ -d "$V8_INCLUDE/c++/v1" ] && FLAGS+=(-nostdinc++ -isystem "$V8_INCLUDE/c++/v1")
if [ "$PLANTED" = 1 ]; then
    FILES=("$ROOT/core/shim/testing/planted_static.cc")
else
    # The product and the test-only C++ that builds link (never the
    # sanitizers' planted bugs, which are bugs on purpose).
    FILES=("$ROOT"/core/shim/*.cc "$ROOT/core/shim/testing/kernel_placed_pages.cc"
        "$ROOT/core/shim/testing/bench_raw_eval.cc")
fi

status=0
for file in "${FILES[@]}"; do
    say "analysing ${file#"$ROOT"/}"
    # The header filter is given here too: clang-tidy 19 ignores the
    # config file's HeaderFilterRegex (seen here), and V8's headers are not ours.
    run_logged "$TIDY" --quiet --config-file="$ROOT/core/shim/.clang-tidy" \
        --header-filter='.*/core/shim/[^/]*\.h$' "$file" -- "${FLAGS[@]}" || status=1
done
[ "$(report_kinds | wc -l)" = 0 ] || status=1
finish "$status" "$(report_summary) in ${#FILES[@]} files"
