#!/bin/bash -eu
# Builds every fuzz target into $OUT for ClusterFuzzLite and OSS-Fuzz, with
# its seed corpus zip, dictionary and .options file. The builder image sets
# SRC, OUT, WORK, CC, CXX, CFLAGS, CXXFLAGS and RUSTFLAGS; `cargo xtask
# cflite-build` sets the same outside Docker and checks $OUT afterwards.

cd "$SRC/v8cage"

# libnode is built against libstdc++ and V8's API passes std types, while
# the images compile C++ against libc++ by default.
export CXXFLAGS="${CXXFLAGS//-stdlib=libc++/}"
# The runner image has no libnode: the targets load it, and every library it
# needs, from $OUT/lib. DT_RPATH (not RUNPATH) also applies to libnode's own
# dependencies. Read by fuzz/build.rs.
export V8CAGE_FUZZ_RPATH='$ORIGIN/lib'

target_dir="${CARGO_TARGET_DIR:-$PWD/fuzz/target}"
cargo fuzz build -O --target-dir "$target_dir"
built="$target_dir/x86_64-unknown-linux-gnu/release"

targets=$(cargo fuzz list)
for target in $targets; do
    cp "$built/$target" "$OUT/"
    cp "fuzz/options/$target.options" "$OUT/"
    if [ -f "corpus/dicts/$target.dict" ]; then
        cp "corpus/dicts/$target.dict" "$OUT/"
    fi
    # Seeds plus the minimized reproducers of fixed bugs, flat, by file name.
    seeds=("corpus/$target"/*)
    if [ -d "corpus/regressions/$target" ]; then
        seeds+=("corpus/regressions/$target"/*)
    fi
    rm -f "$OUT/${target}_seed_corpus.zip"
    python3 -m zipfile -c "$OUT/${target}_seed_corpus.zip" "${seeds[@]}"
done

# Bundle the shared libraries the targets load, except the C library itself
# (the runner image has the same glibc as the builder). ldd looks in the
# folder v8cage's build script linked libnode from (the system's in the
# image, .deps/v8 for `cargo xtask cflite-build`).
v8_lib_dir=$(sed -n 's/^cargo:lib_dir=//p' "$target_dir"/x86_64-unknown-linux-gnu/release/build/*/output | tail -n 1)
mkdir -p "$OUT/lib"
first_target=$(echo "$targets" | head -n 1)
libraries=$(LD_LIBRARY_PATH="$v8_lib_dir" ldd "$OUT/$first_target")
if echo "$libraries" | grep -q "not found"; then
    echo "build.sh: $first_target has libraries ldd cannot find:" >&2
    echo "$libraries" >&2
    exit 1
fi
echo "$libraries" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
    while read -r library; do
        case "$(basename "$library")" in
        libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*) ;;
        *) cp -L "$library" "$OUT/lib/" ;;
        esac
    done
