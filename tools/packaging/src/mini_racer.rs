//! `cargo xtask mini-racer-suite`: mini-racer's own test suite, run against
//! a v8cage wheel with `py_mini_racer` aliased to `v8cage` — the proof that
//! v8cage replaces mini-racer. The tests come from a checkout named by
//! `MINI_RACER_DIR` (github.com/bpcreech/PyMiniRacer), at the tag of the
//! mini-racer release we match; none of its files are kept here.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use devtools::cmd::run;

/// The mini-racer release whose API and suite v8cage matches.
const TAG: &str = "v0.14.1";
/// The one test only a V8 with its sandbox on passes.
const SANDBOX_TEST: &str = "test_init.py::test_sandbox";
/// What the suite imports beyond the standard library.
const TEST_PACKAGES: &[&str] = &["pytest", "pytest-asyncio"];

/// Written beside the tests: every `py_mini_racer` module the suite imports
/// is v8cage's counterpart.
const ALIAS_CONFTEST: &str = "\
# Written by v8cage's xtask: mini-racer's suite, run against v8cage.
import sys

import v8cage
import v8cage._context
import v8cage._mini_racer

sys.modules[\"py_mini_racer\"] = v8cage
sys.modules[\"py_mini_racer._context\"] = v8cage._context
sys.modules[\"py_mini_racer._mini_racer\"] = v8cage._mini_racer
";

/// Runs the suite in a fresh venv with `wheel` installed (or the newest
/// x86_64 wheel in target/wheels/: the current V8's if built). Without
/// `MINI_RACER_DIR` it says so and does nothing.
pub fn run_suite(root: &Path, wheel: Option<PathBuf>) -> Result<()> {
    let Some(checkout) = std::env::var_os("MINI_RACER_DIR").map(PathBuf::from) else {
        eprintln!(
            "xtask mini-racer-suite: SKIPPED mini-racer's own suite: MINI_RACER_DIR is not set \
             (a checkout of github.com/bpcreech/PyMiniRacer)"
        );
        return Ok(());
    };
    let wheel = match wheel {
        Some(wheel) => wheel,
        None => built_wheel(root)?,
    };
    let scratch = std::env::temp_dir().join(format!("v8cage-mini-racer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let archive = Command::new("git")
        .arg("-C")
        .arg(&checkout)
        .args(["archive", TAG, "tests"])
        .output()
        .context("running git")?;
    if !archive.status.success() {
        bail!(
            "MINI_RACER_DIR={} has no tag {TAG}: {}",
            checkout.display(),
            String::from_utf8_lossy(&archive.stderr).trim()
        );
    }
    let mut untar = Command::new("tar");
    untar
        .arg("x")
        .current_dir(&scratch)
        .stdin(std::process::Stdio::piped());
    let mut child = untar.spawn().context("running tar")?;
    std::io::Write::write_all(
        child.stdin.as_mut().context("tar's stdin")?,
        &archive.stdout,
    )?;
    drop(child.stdin.take());
    if !child.wait()?.success() {
        bail!("unpacking mini-racer's tests failed");
    }
    std::fs::write(scratch.join("conftest.py"), ALIAS_CONFTEST)?;
    let venv = scratch.join("venv");
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    let python = venv.join("bin/python");
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet"])
        .arg(&wheel)
        .args(TEST_PACKAGES))?;
    eprintln!(
        "xtask mini-racer-suite: mini-racer {TAG}'s tests against {}",
        wheel.display()
    );
    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(&scratch);
    if !wheel
        .to_string_lossy()
        .contains(crate::wheel::MANYLINUX_CURRENT_V8)
    {
        eprintln!(
            "xtask mini-racer-suite: deselected {SANDBOX_TEST}: this wheel's V8 10.2 has no V8 sandbox (the manylinux_2_31 wheel's V8 has)"
        );
        pytest.arg(format!("--deselect=tests/{SANDBOX_TEST}"));
    }
    let result = run(&mut pytest);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// The x86_64 wheel `cargo xtask wheel` left, the current V8's first.
fn built_wheel(root: &Path) -> Result<PathBuf> {
    let out = root.join("target/wheels");
    for tag in [crate::wheel::MANYLINUX_CURRENT_V8, crate::wheel::MANYLINUX] {
        let suffix = format!("-{tag}_x86_64.whl");
        for entry in std::fs::read_dir(&out).into_iter().flatten() {
            let path = entry?.path();
            if path.to_string_lossy().ends_with(&suffix) {
                return Ok(path);
            }
        }
    }
    bail!(
        "no x86_64 wheel in {}: `cargo xtask wheel` (or --wheel <path>)",
        out.display()
    )
}
