//! `cargo xtask test`: the pipeline CI runs (`.ci/run`).

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use crate::{bench, python, sanitize};
use devtools::cmd::{cargo, cargo_command, run};
use fuzzing::{afl, cflite, fuzz, fuzzilli};
use packaging::{cross, mini_racer, wheel};

/// The sanitizer jobs `cargo xtask test` proves on every run; valgrind's
/// clean run there covers a quick subset (the full one takes ~10 minutes:
/// `cargo xtask sanitize-prove valgrind`, and the GitHub workflow).
const TEST_SANITIZER_JOBS: &[&str] = &[
    "asan", "ubsan", "tsan", "valgrind", "msan", "analyze", "miri",
];

/// `setup` has run. `full` adds the long proofs.
pub(crate) fn all(root: &Path, full: bool) -> Result<()> {
    let started = Instant::now();
    stage("style", || style(root))?;
    stage("clippy", clippy)?;
    // The shim against the current V8's headers, built here or not.
    stage("v8 check", || v8build::check::check(root))?;
    // The AFL binaries link only under `cargo afl build` (`cargo xtask afl`).
    stage("rust tests", || {
        cargo(&["test", "--workspace", "--exclude", "v8cage-afl"])?;
        say_which_v8(&[])
    })?;
    stage("python tests", || python::pytest(root, &[]))?;
    if full {
        stage("tests on the current V8", || current_v8_tests(root))?;
        stage("atheris", || python::fuzz(root, 10))?;
        stage("own V8 builds", v8build::report)?;
        stage("fuzz smoke", || fuzz::smoke(root, 20))?;
        // What ClusterFuzzLite/OSS-Fuzz will build and run, and the tested
        // example of AFL++ syncing two machines through a shared folder.
        stage("cflite build", || cflite::build_and_check(root))?;
        // The REPRL target builds from a fresh clone; the proof with
        // Fuzzilli's client runs where FUZZILLI_DIR names a checkout.
        stage("fuzzilli", || {
            fuzzilli::build(root, None)?;
            fuzzilli::prove(root, 10_000, "in-process")
        })?;
        stage("afl sync", || afl::sync_check(root, "eval", 20))?;
        // Packaging: the host wheel and the sdist built from source, the
        // aarch64 wheel under qemu with the whole Python suite, and where
        // the cache has our own V8 for them (the "own V8 builds" stage
        // says), the glibc 2.28 wheel and the current V8's glibc 2.31 one
        // with the suite in Debian 11.
        stage("wheels", || {
            wheel::wheel(root, wheel::MANYLINUX, &cross::X86_64)?;
            wheel::wheel(root, wheel::MANYLINUX, &cross::AARCH64)?;
            if v8build::cached_prefix("manylinux").is_some() {
                wheel::wheel(root, wheel::MANYLINUX_OWN_V8, &cross::X86_64)?;
            }
            if v8build::current::cached_prefix("release").is_some() {
                wheel::wheel(root, wheel::MANYLINUX_CURRENT_V8, &cross::X86_64)?;
            }
            Ok(())
        })?;
        // The newest x86_64 wheel against mini-racer's own tests, where
        // MINI_RACER_DIR names a PyMiniRacer checkout.
        stage("mini-racer suite", || mini_racer::run_suite(root, None))?;
        // Ratios within one run against bench/baseline.json.
        stage("bench gate", || bench::gate(root, false))?;
        stage("sanitizer proofs", || {
            let jobs: Vec<String> = TEST_SANITIZER_JOBS.iter().map(|j| j.to_string()).collect();
            sanitize::prove(root, &jobs, true, sanitize::JobV8::Default)
        })?;
    }
    eprintln!(
        "xtask: all tests passed in {} s{}",
        started.elapsed().as_secs(),
        if full {
            ""
        } else {
            " (the long proofs: cargo xtask test --full)"
        }
    );
    Ok(())
}

/// Runs one stage and says how long it took.
fn stage(name: &str, work: impl FnOnce() -> Result<()>) -> Result<()> {
    let started = Instant::now();
    let result = work();
    eprintln!("xtask: stage {name}: {} s", started.elapsed().as_secs());
    result
}

/// The Rust and Python suites again on the current V8, where the cache has
/// its `release` build (CI never builds it); the stages before ran on the
/// V8 a fresh machine gets (Debian's 10.2, or `V8CAGE_V8_DIR`).
fn current_v8_tests(root: &Path) -> Result<()> {
    let version = v8build::current::V8_VERSION;
    let Some(prefix) = v8build::current::cached_prefix("release") else {
        eprintln!(
            "xtask: tests on the current V8 {version}: SKIPPED, its `release` build is not in \
             the cache (`cargo xtask v8 build release --idle`, hours; never built in CI)"
        );
        return Ok(());
    };
    eprintln!(
        "xtask: tests on the current V8 {version} from {}",
        prefix.display()
    );
    // A target folder of its own: switching V8 would rebuild everything.
    let target = root.join("target/v8-current");
    let env = [
        ("V8CAGE_V8_DIR", prefix.as_path()),
        ("CARGO_TARGET_DIR", target.as_path()),
    ];
    run(cargo_command()
        .args(["test", "--workspace", "--exclude", "v8cage-afl"])
        .envs(env))?;
    say_which_v8(&env)?;
    python::pytest_in(root, &env)
}

/// Says which V8 the tests just built with `env` link: the `run`
/// example's `--v8-version`, built the same way.
fn say_which_v8(env: &[(&str, &Path)]) -> Result<()> {
    let out = cargo_command()
        .args([
            "run",
            "--quiet",
            "-p",
            "v8cage",
            "--example",
            "run",
            "--",
            "--v8-version",
        ])
        .envs(env.iter().copied())
        .output()
        .context("running the run example")?;
    if !out.status.success() {
        bail!(
            "the run example could not say its V8: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!(
        "xtask: the Rust tests ran on {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    Ok(())
}

const FUZZ_MANIFEST: &str = "fuzz/Cargo.toml";

/// Formatting of every language, and the Python package's types.
fn style(root: &Path) -> Result<()> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&["fmt", "--all", "--check", "--manifest-path", FUZZ_MANIFEST])?;
    python::clang_format_check(root)?;
    python::lint(root)
}

fn clippy() -> Result<()> {
    let clippy = ["clippy", "--workspace", "--all-targets"];
    let deny = ["--", "-D", "warnings"];
    cargo(&[&clippy[..], &deny[..]].concat())?;
    // The planted bugs and their test compile only with their feature.
    cargo(
        &[
            &clippy[..],
            &["--features", "v8cage/planted-bugs"],
            &deny[..],
        ]
        .concat(),
    )?;
    cargo(&[&clippy[..], &["--manifest-path", FUZZ_MANIFEST], &deny[..]].concat())
}
