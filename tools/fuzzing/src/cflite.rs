//! `cargo xtask cflite-build`: runs `.clusterfuzzlite/build.sh` the way the
//! ClusterFuzzLite/OSS-Fuzz builder image does, without Docker, then checks
//! `$OUT` the way their runner will use it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context as _, Result};

use crate::fuzz;
use devtools::cmd::run;

/// The compiler flags base-builder sets for `SANITIZER=address` with
/// libFuzzer (CFLAGS; CXXFLAGS adds `-stdlib=libc++`, which build.sh must
/// take out again).
const BUILDER_CFLAGS: &str = "-O1 -fno-omit-frame-pointer -gline-tables-only \
     -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -fsanitize=address \
     -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link";
const BUILDER_RUSTFLAGS: &str = "--cfg fuzzing -Cdebuginfo=1 -Cforce-frame-pointers";

pub fn build_and_check(root: &Path) -> Result<()> {
    devtools::toolchain::ensure_nightly()?;
    devtools::toolchain::ensure_installed("fuzz", "cargo-fuzz")?;
    let clang = clang(root)?;
    let base = root.join("target/cflite");
    let [src, out, work] = ["src", "out", "work"].map(|dir| base.join(dir));
    for dir in [&src, &out, &work] {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
    }
    // As the Dockerfile lays it out: the tree in $SRC/v8cage, build.sh in $SRC.
    std::os::unix::fs::symlink(root, src.join("v8cage"))?;
    std::fs::copy(root.join(".clusterfuzzlite/build.sh"), src.join("build.sh"))?;

    let mut build = Command::new("bash");
    build
        .arg("-eu")
        .arg(src.join("build.sh"))
        .current_dir(&src)
        .env("SRC", &src)
        .env("OUT", &out)
        .env("WORK", &work)
        .env("CC", &clang)
        .env("CXX", clang.replace("clang", "clang++"))
        .env("CFLAGS", BUILDER_CFLAGS)
        .env("CXXFLAGS", format!("{BUILDER_CFLAGS} -stdlib=libc++"))
        .env("RUSTFLAGS", BUILDER_RUSTFLAGS)
        .env("SANITIZER", "address")
        .env("FUZZING_ENGINE", "libfuzzer")
        .env("FUZZING_LANGUAGE", "rust")
        .env("ARCHITECTURE", "x86_64")
        .env("LIB_FUZZING_ENGINE", "-fsanitize=fuzzer")
        // The images' default toolchain is a nightly.
        .env("RUSTUP_TOOLCHAIN", "nightly")
        // Kept between runs (the image builds from scratch each time).
        .env("CARGO_TARGET_DIR", base.join("cargo-target"))
        .env_remove("LD_LIBRARY_PATH");
    if std::env::var_os("CARGO_BUILD_JOBS").is_none() {
        build.env("CARGO_BUILD_JOBS", "2");
    }
    run(&mut build)?;
    check_out(root, &out, &work)
}

/// The newest clang with sanitizer runtimes, installed (when root) by the
/// same helper the sanitizer jobs use.
fn clang(root: &Path) -> Result<String> {
    let output = Command::new("bash")
        .arg("-c")
        .arg("source sanitizer-builds/common.sh && ensure_clang >&2 && echo \"$CLANG\"")
        .current_dir(root)
        .env("JOB", "cflite")
        .env("LOG", root.join("target/cflite-clang.log"))
        .output()
        .context("running sanitizer-builds/common.sh")?;
    let clang = String::from_utf8_lossy(&output.stdout).trim().to_string();
    ensure!(
        output.status.success() && !clang.is_empty(),
        "no usable clang: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(clang)
}

/// What ClusterFuzzLite/OSS-Fuzz need of `$OUT`, checked on a copy in
/// another place (so nothing resolves through a path of this machine's
/// build): per target an executable with ASan and coverage instrumentation
/// whose libraries all load from `$OUT/lib`, its `.options`, its dictionary
/// when it has one, and a seed corpus zip holding every seed and regression
/// input; then each target runs one seed from its zip and exits 0.
fn check_out(root: &Path, built: &Path, work: &Path) -> Result<()> {
    let out = work.join("runner-out");
    run(Command::new("cp").arg("-a").arg(built).arg(&out))?;
    for target in &fuzz::targets(root)? {
        let binary = out.join(target);
        let mode = std::fs::metadata(&binary)
            .with_context(|| format!("$OUT has no {target}"))?
            .permissions()
            .mode();
        ensure!(mode & 0o111 != 0, "$OUT/{target} is not executable");
        let bytes = std::fs::read(&binary)?;
        for (symbol, what) in [
            (&b"__asan_init"[..], "ASan"),
            (&b"__sanitizer_cov_8bit_counters_init"[..], "coverage"),
        ] {
            ensure!(
                bytes.windows(symbol.len()).any(|w| w == symbol),
                "$OUT/{target} has no {what} instrumentation"
            );
        }
        check_libraries(&binary, &out)?;

        let options = std::fs::read_to_string(out.join(format!("{target}.options")))
            .with_context(|| format!("$OUT has no {target}.options"))?;
        ensure!(
            options.lines().any(|l| l.trim() == "[libfuzzer]"),
            "{target}.options has no [libfuzzer] section"
        );
        if root.join(format!("corpus/dicts/{target}.dict")).is_file() {
            ensure!(
                out.join(format!("{target}.dict")).is_file(),
                "$OUT has no {target}.dict"
            );
        }

        let seeds = work.join(format!("{target}_seeds"));
        run(Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(out.join(format!("{target}_seed_corpus.zip")))
            .arg(&seeds))?;
        let mut unpacked = files_in(&seeds)?;
        let expected = files_in(&root.join("corpus").join(target))?.len()
            + files_in(&root.join("corpus/regressions").join(target))?.len();
        ensure!(
            unpacked.len() == expected,
            "{target}_seed_corpus.zip holds {} inputs, corpus/ has {expected}",
            unpacked.len()
        );
        unpacked.sort();
        let seed = unpacked.first().context("an empty seed corpus")?;
        run_one_seed(&binary, seed, work)?;
        println!(
            "cflite-build: {target}: instrumented, libraries from $OUT/lib, {} seeds, options{}, ran {}",
            unpacked.len(),
            if out.join(format!("{target}.dict")).is_file() { ", dict" } else { "" },
            seed.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    println!(
        "cflite-build: $OUT ({}) is ready for ClusterFuzzLite/OSS-Fuzz",
        built.display()
    );
    Ok(())
}

fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    Ok(files)
}

/// Every library the target loads resolves, and libnode from `$OUT/lib`
/// (the runner image has no libnode).
fn check_libraries(binary: &Path, out: &Path) -> Result<()> {
    let ldd = Command::new("ldd")
        .arg(binary)
        .env_remove("LD_LIBRARY_PATH")
        .output()?;
    let listing = String::from_utf8_lossy(&ldd.stdout);
    ensure!(ldd.status.success(), "ldd {} failed", binary.display());
    ensure!(
        !listing.contains("not found"),
        "{} cannot load all its libraries:\n{listing}",
        binary.display()
    );
    let libnode = listing
        .lines()
        .find(|line| line.trim_start().starts_with("libnode.so"))
        .context("the target does not link libnode")?;
    let bundled = out.join("lib");
    if !libnode.contains(&*bundled.to_string_lossy()) {
        bail!("libnode does not load from $OUT/lib: {}", libnode.trim());
    }
    Ok(())
}

/// As the runner starts a target: from another directory, with leak
/// detection on and none of this machine's sanitizer settings.
fn run_one_seed(binary: &Path, seed: &Path, work: &Path) -> Result<()> {
    let output = Command::new(binary)
        .arg("-rss_limit_mb=2560")
        .arg("-timeout=25")
        .arg(seed)
        .current_dir(work)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LSAN_OPTIONS")
        .env(
            "ASAN_OPTIONS",
            "detect_leaks=1:symbolize=1:abort_on_error=1",
        )
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let said = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success() && said.contains("Executed"),
        "{} {} failed ({}):\n{said}",
        binary.display(),
        seed.display(),
        output.status
    );
    Ok(())
}
