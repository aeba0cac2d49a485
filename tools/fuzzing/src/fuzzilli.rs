//! `cargo xtask fuzzilli build|prove`: the REPRL target for Fuzzilli
//! (`fuzzilli/`), built with edge coverage, and its proof with Fuzzilli's
//! own client code (libreprl, libcoverage) from a Fuzzilli checkout.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use devtools::cmd::{cargo_command, run};

/// Where the instrumented build goes (its flags differ from every other build).
const TARGET_DIR: &str = "target/fuzzilli";

/// rustc's sanitizer-coverage pass in trace-pc-guard mode: a callback per
/// edge, which `fuzzilli/src/coverage.c` turns into Fuzzilli's bitmap.
const RUST_COVERAGE_FLAGS: &str = "-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=3 \
     -Cllvm-args=-sanitizer-coverage-trace-pc-guard -Cforce-frame-pointers=yes";

/// Builds `v8cage-reprl` with edge coverage in our Rust code and the shim
/// (and in V8 when `v8_dir` names a V8 built with it); returns its path.
pub fn build(root: &Path, v8_dir: Option<&Path>) -> Result<PathBuf> {
    devtools::toolchain::ensure_clang()?;
    // An explicit --target keeps RUSTFLAGS off build scripts and proc
    // macros, which must not be instrumented (they have no runtime).
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let mut cmd = cargo_command();
    cmd.args([
        "build",
        "--release",
        "-p",
        "v8cage-fuzzilli",
        "--bin",
        "v8cage-reprl",
    ])
    .args(["--target", &triple])
    .arg("--target-dir")
    .arg(root.join(TARGET_DIR))
    .env("RUSTFLAGS", RUST_COVERAGE_FLAGS)
    // The shim (C++) with the same callbacks; clang, which has the mode.
    // Not CFLAGS: the coverage runtime itself (C) must stay uninstrumented.
    .env("CXX", "clang++-19")
    .env("CXXFLAGS", "-fsanitize-coverage=trace-pc-guard");
    if let Some(dir) = v8_dir {
        cmd.env("V8CAGE_V8_DIR", dir);
        // A current-V8 prefix brings its own clang (core/build.rs).
        cmd.env_remove("CXX");
    }
    run(&mut cmd)?;
    let binary = root
        .join(TARGET_DIR)
        .join(&triple)
        .join("release/v8cage-reprl");
    let edges = Command::new(&binary)
        .arg("--print-edges")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let edges = String::from_utf8_lossy(&edges.stdout).trim().to_string();
    if edges.parse::<u64>().unwrap_or(0) == 0 {
        bail!("{} reports no instrumented edges", binary.display());
    }
    eprintln!(
        "xtask fuzzilli: {edges} instrumented edges; V8: {}",
        match v8_dir {
            Some(dir) => dir.display().to_string(),
            None => "the default one (its edges are not instrumented)".into(),
        }
    );
    Ok(binary)
}

/// Compiles `fuzzilli/proof/driver.c` with Fuzzilli's libreprl and
/// libcoverage from `FUZZILLI_DIR` and runs it against the target: the
/// handshake, `executions` programs from `corpus/eval/`, crashes,
/// timeouts, edges, `fresh_instance`; then the same programs without REPRL
/// for the executions per second. Without `FUZZILLI_DIR` it says so and
/// does nothing (no Fuzzilli code is kept in this repository).
pub fn prove(root: &Path, executions: u64, isolation: &str) -> Result<()> {
    let Some(fuzzilli) = std::env::var_os("FUZZILLI_DIR").map(PathBuf::from) else {
        eprintln!(
            "xtask fuzzilli: SKIPPED the proof with Fuzzilli's client: FUZZILLI_DIR is not set \
             (a checkout of github.com/googleprojectzero/fuzzilli)"
        );
        return Ok(());
    };
    let sources = fuzzilli.join("Sources");
    for file in [
        "libreprl/libreprl-posix.c",
        "libcoverage/coverage.c",
        "libreprl/include/libreprl.h",
        "libcoverage/include/libcoverage.h",
    ] {
        if !sources.join(file).is_file() {
            bail!("FUZZILLI_DIR={} has no Sources/{file}", fuzzilli.display());
        }
    }
    let target = build(root, None)?;
    let driver = root.join(TARGET_DIR).join("reprl-driver");
    run(Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&driver)
        .arg(root.join("fuzzilli/proof/driver.c"))
        .arg(sources.join("libreprl/libreprl-posix.c"))
        .arg(sources.join("libcoverage/coverage.c"))
        .arg("-I")
        .arg(sources.join("libreprl/include"))
        .arg("-I")
        .arg(sources.join("libcoverage/include"))
        .arg("-lrt"))?;
    let mut programs: Vec<PathBuf> = std::fs::read_dir(root.join("corpus/eval"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    programs.retain(|p| p.extension().is_some_and(|e| e == "js"));
    programs.sort();
    let kept = root.join(TARGET_DIR).join("kept-programs.txt");
    let mut cmd = Command::new(&driver);
    cmd.arg(executions.to_string())
        .arg(&target)
        .args(["--isolation", isolation])
        .arg("--")
        .args(&programs)
        .env("V8CAGE_KEPT_PROGRAMS", &kept);
    run(&mut cmd)?;
    // The same programs, limits and context reuse in the same binary,
    // without REPRL: the protocol's cost is the difference.
    let kept = std::fs::read_to_string(&kept)?;
    run(Command::new(&target)
        .arg("--direct")
        .arg(executions.to_string())
        .args(["--isolation", isolation])
        .arg("--")
        .args(kept.lines()))
}
