//! `cargo xtask test`: the pipeline CI runs (`.ci/run`).

use std::path::Path;

use anyhow::Result;

use crate::cmd::cargo;
use crate::{afl, cflite, fuzz, python, sanitize};

/// The sanitizer jobs `cargo xtask test` proves on every run; valgrind's
/// clean run there covers a quick subset (the full one takes ~10 minutes:
/// `cargo xtask sanitize-prove valgrind`, and the GitHub workflow).
const TEST_SANITIZER_JOBS: &[&str] = &["asan", "ubsan", "tsan", "valgrind", "msan"];

/// `setup` has run. `fuzz_smoke` and `sanitizers` select the long proofs.
pub(crate) fn all(root: &Path, fuzz_smoke: bool, sanitizers: bool) -> Result<()> {
    let fuzz_manifest = "fuzz/Cargo.toml";
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&["fmt", "--all", "--check", "--manifest-path", fuzz_manifest])?;
    python::clang_format_check(root)?;
    python::lint(root)?;
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
    cargo(&[&clippy[..], &["--manifest-path", fuzz_manifest], &deny[..]].concat())?;
    // The AFL binaries link only under `cargo afl build` (`cargo xtask afl`).
    cargo(&["test", "--workspace", "--exclude", "v8cage-afl"])?;
    python::pytest(root, &[])?;
    python::fuzz(root, 10)?;
    if fuzz_smoke {
        fuzz::smoke(root, 20)?;
        // What ClusterFuzzLite/OSS-Fuzz will build and run, and the tested
        // example of AFL++ syncing two machines through a shared folder.
        cflite::build_and_check(root)?;
        afl::sync_check(root, "eval", 20)?;
    }
    if sanitizers {
        let jobs: Vec<String> = TEST_SANITIZER_JOBS.iter().map(|j| j.to_string()).collect();
        sanitize::prove(root, &jobs, true)?;
    }
    eprintln!("xtask: all tests passed");
    Ok(())
}
