//! `cargo xtask sanitize <job>` runs `sanitizer-builds/<job>.sh`;
//! `cargo xtask sanitize-prove` shows that each job passes on the code as it
//! is and fails, naming the class, on the planted bugs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

/// Every job, and the report kinds its `--planted` run must name (as its
/// summary line prints them; see `report_kinds` in sanitizer-builds/common.sh).
pub const JOBS: &[(&str, &[&str])] = &[
    (
        "asan",
        &["heap-buffer-overflow", "heap-use-after-free", "memory-leak"],
    ),
    ("tsan", &["data race"]),
    (
        "ubsan",
        &["signed integer overflow", "load of misaligned address"],
    ),
    (
        "valgrind",
        &[
            "Invalid read",
            "definitely lost",
            "depends on uninitialised value",
        ],
    ),
    ("msan", &["use-of-uninitialized-value"]),
    (
        "analyze",
        &[
            "clang-analyzer-cplusplus.NewDeleteLeaks",
            "clang-analyzer-core.NullDereference",
            "clang-analyzer-core.UndefinedBinaryOperatorResult",
        ],
    ),
    ("miri", &["Undefined Behavior"]),
];

/// msan.sh exits with this when its prerequisites (an MSan-built V8) are absent.
const MISSING_PREREQUISITES: i32 = 3;

fn script(root: &Path, job: &str) -> Result<std::path::PathBuf> {
    if !JOBS.iter().any(|(name, _)| *name == job) {
        let names: Vec<&str> = JOBS.iter().map(|(name, _)| *name).collect();
        bail!(
            "unknown sanitizer job `{job}`; one of: {}",
            names.join(", ")
        );
    }
    Ok(root.join("sanitizer-builds").join(format!("{job}.sh")))
}

/// Which V8 a job runs against.
#[derive(Clone, Copy, PartialEq, Debug, clap::ValueEnum)]
pub enum JobV8 {
    /// What every build links: Debian's V8, or `V8CAGE_V8_DIR` (msan: the
    /// cache's MSan build of V8 10.2).
    Default,
    /// The current V8 from the cache (`cargo xtask v8 build`): `msan` its
    /// MSan profile, every other job its release build (uninstrumented, as
    /// Debian's is). Builds and logs go to `target/sanitize/<job>-v8-15.2/`.
    Current,
}

/// `bash sanitizer-builds/<job>.sh [--planted]`, free to pick its toolchain.
fn job_command(root: &Path, job: &str, planted: bool, v8: JobV8) -> Result<Command> {
    let mut cmd = Command::new("bash");
    cmd.arg(script(root, job)?).env_remove("RUSTUP_TOOLCHAIN");
    if planted {
        cmd.arg("--planted");
    }
    if v8 == JobV8::Current {
        use v8build::current;
        let profile = if job == "msan" { "msan" } else { "release" };
        cmd.env("V8CAGE_SANITIZE_V8", format!("v8-{}", current::V8_MINOR));
        match current::cached_prefix(profile) {
            Some(prefix) => {
                eprintln!(
                    "xtask sanitize: {job} runs against the current V8 {} `{profile}` in {}",
                    current::V8_VERSION,
                    prefix.display()
                );
                cmd.env("V8CAGE_V8_DIR", prefix);
            }
            // msan.sh then names what is missing and exits 3.
            None if job == "msan" => {
                eprintln!(
                    "xtask sanitize: no current-V8 MSan build in the cache (`cargo xtask v8 build msan --idle`, hours)"
                );
                cmd.env_remove("V8CAGE_V8_DIR");
            }
            None => bail!(
                "the current V8 {}'s `release` build is not in the cache: `cargo xtask v8 build release --idle` (hours)",
                current::V8_VERSION
            ),
        }
    } else if job == "msan" && std::env::var_os("V8CAGE_V8_DIR").is_none() {
        // The cache's MSan V8 (`cargo xtask v8 build msan`), when there is one.
        match v8build::cached_prefix("msan") {
            Some(prefix) => {
                eprintln!(
                    "xtask sanitize: msan uses the self-built MSan V8 in {}",
                    prefix.display()
                );
                cmd.env("V8CAGE_V8_DIR", prefix);
            }
            None => eprintln!(
                "xtask sanitize: no MSan V8 in the cache (`cargo xtask v8 build msan`, hours) and no V8CAGE_V8_DIR"
            ),
        }
    }
    Ok(cmd)
}

/// Runs one job as a person would; its exit code is passed through.
pub fn run(root: &Path, job: &str, planted: bool, v8: JobV8) -> Result<()> {
    let mut cmd = job_command(root, job, planted, v8)?;
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    std::process::exit(status.code().unwrap_or(1));
}

struct Run {
    code: i32,
    summary: String,
    seconds: u64,
}

/// Runs a job with its test output on stderr; its stdout is the summary line.
fn run_captured(root: &Path, job: &str, planted: bool, quick: bool, v8: JobV8) -> Result<Run> {
    let mut cmd = job_command(root, job, planted, v8)?;
    if quick && job == "valgrind" && std::env::var_os("V8CAGE_VALGRIND_TESTS").is_none() {
        cmd.env("V8CAGE_VALGRIND_TESTS", QUICK_VALGRIND_TESTS);
    }
    if quick && job == "msan" && std::env::var_os("V8CAGE_MSAN_TESTS").is_none() {
        cmd.env("V8CAGE_MSAN_TESTS", QUICK_MSAN_TESTS);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    eprintln!("xtask: running {cmd:?}");
    let started = Instant::now();
    let output = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let summary = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    Ok(Run {
        code: output.status.code().unwrap_or(-1),
        summary,
        seconds: started.elapsed().as_secs(),
    })
}

/// The core test binaries the quick valgrind run checks (about 1.5 minutes
/// instead of 10): the threading, timeout and input tests.
const QUICK_VALGRIND_TESTS: &str = "input threads timeout";

/// The core test binaries the quick msan run checks: the same three. The
/// whole set runs for an hour or more (V8's JIT code on its arm64 simulator,
/// instrumented); `cargo xtask sanitize-prove msan` and the workflow run it.
const QUICK_MSAN_TESTS: &str = "input threads timeout";

/// For each job: without planted bugs it must pass (exit 0); with them it
/// must fail (exit 1) and name every class it is there to catch. msan may
/// instead report its prerequisites missing (exit 3), never pass silently.
/// `quick`: the clean valgrind run covers QUICK_VALGRIND_TESTS only.
pub fn prove(root: &Path, jobs: &[String], quick: bool, v8: JobV8) -> Result<()> {
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for job in jobs {
        let expected = JOBS
            .iter()
            .find(|(name, _)| name == job)
            .map(|(_, kinds)| *kinds)
            .with_context(|| format!("unknown sanitizer job `{job}`"))?;
        let clean = run_captured(root, job, false, quick, v8)?;
        if job == "msan" && clean.code == MISSING_PREREQUISITES {
            table.push(format!(
                "{job:<9} clean: not run, prerequisites missing (exit 3) — as expected without an MSan V8 ({} s)",
                clean.seconds
            ));
            continue;
        }
        if clean.code != 0 {
            failures.push(format!(
                "{job}: expected a pass on the code as it is, got exit {}: {}",
                clean.code, clean.summary
            ));
        }
        let planted = run_captured(root, job, true, quick, v8)?;
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|kind| !planted.summary.contains(kind))
            .collect();
        if planted.code != 1 || !missing.is_empty() {
            failures.push(format!(
                "{job}: expected exit 1 naming {expected:?} with planted bugs, got exit {} missing {missing:?}: {}",
                planted.code, planted.summary
            ));
        }
        table.push(format!(
            "{job:<9} clean: exit {} in {} s | planted: exit {} in {} s, {}",
            clean.code,
            clean.seconds,
            planted.code,
            planted.seconds,
            planted
                .summary
                .split(" — ")
                .nth(1)
                .unwrap_or(&planted.summary)
        ));
    }
    eprintln!("\nxtask sanitize-prove:");
    for line in &table {
        eprintln!("  {line}");
    }
    if !failures.is_empty() {
        bail!("sanitizer proof failed:\n  {}", failures.join("\n  "));
    }
    eprintln!("xtask sanitize-prove: every job passes clean and catches its planted bugs");
    Ok(())
}
