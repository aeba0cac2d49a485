//! Fuzzing tasks: libFuzzer (cargo-fuzz), AFL++ (cargo-afl), replay of one
//! input, coverage reports, and the CI smoke run.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use crate::{cargo_command, run};

/// The harness's targets (`v8cage::fuzzing::TARGETS`; xtask cannot link
/// v8cage, since it must build before V8 is installed).
pub const TARGETS: &[&str] = &["eval", "eval_gen", "roundtrip", "json", "api_ops"];

/// libFuzzer's default RSS limit (2 GiB) is below what V8's heap reservations
/// plus ASan's quarantine reach in a long run with many isolates.
const RSS_LIMIT_MB: &str = "4096";

/// An input still running after this long is a hang (every evaluation has a
/// 50 ms timeout; V8 builtins without interrupt checks have overrun it by up
/// to a minute under ASan, see the README's known limits).
const HANG_SECONDS: u32 = 120;

pub fn check_target(target: &str) -> Result<()> {
    if !TARGETS.contains(&target) {
        bail!(
            "unknown fuzz target {target:?}; targets: {}",
            TARGETS.join(", ")
        );
    }
    Ok(())
}

/// A dictionary for targets whose input is text.
fn dictionary(root: &Path, target: &str) -> Option<PathBuf> {
    let name = match target {
        "eval" => "js.dict",
        "json" => "json.dict",
        _ => return None,
    };
    Some(root.join("corpus/dicts").join(name))
}

/// LeakSanitizer stays on; only V8's own never-freed allocations are suppressed.
fn sanitizer_env(cmd: &mut Command, root: &Path) {
    let suppressions = root.join("sanitizer-builds/lsan.supp");
    cmd.env(
        "LSAN_OPTIONS",
        format!(
            "suppressions={}:print_suppressions=0",
            suppressions.display()
        ),
    );
    if std::env::var_os("CARGO_BUILD_JOBS").is_none() {
        // `cargo fuzz build` takes no -j.
        cmd.env("CARGO_BUILD_JOBS", "2");
    }
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

/// Sanitizers need nightly; install it (minimal profile) when missing.
fn ensure_nightly() -> Result<()> {
    if succeeds(Command::new("rustc").args(["+nightly", "--version"])) {
        return Ok(());
    }
    eprintln!("xtask: fuzzing needs a nightly toolchain (sanitizers); installing it");
    run(Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))
}

fn ensure_installed(subcommand: &str, krate: &str) -> Result<()> {
    if succeeds(cargo_command().args([subcommand, "--version"])) {
        return Ok(());
    }
    eprintln!("xtask: installing {krate} (once)");
    // --locked first (the tool's tested dependency versions), then without
    // it in case one of those was yanked.
    run(cargo_command().args(["install", "--locked", krate]))
        .or_else(|_| run(cargo_command().args(["install", krate])))
}

/// `cargo xtask fuzz <target>`: libFuzzer with ASan, seeded from `corpus/`.
pub fn libfuzzer(
    root: &Path,
    target: &str,
    seconds: u64,
    jobs: u32,
    merge: bool,
    extra: &[String],
) -> Result<()> {
    check_target(target)?;
    ensure_nightly()?;
    ensure_installed("fuzz", "cargo-fuzz")?;
    let work = root.join("fuzz/corpus").join(target);
    let artifacts = root.join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&artifacts)?;
    let seeds = root.join("corpus").join(target);

    let mut cmd = cargo_command();
    cmd.args(["+nightly", "fuzz", "run", "--release", target])
        .arg(&work)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-timeout={HANG_SECONDS}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1");
    if let Some(dict) = dictionary(root, target) {
        cmd.arg(format!("-dict={}", dict.display()));
    } else {
        // Generator input: lengths need not creep up from a few bytes.
        cmd.args(["-len_control=0", "-max_len=2048"]);
    }
    let fork = jobs > 1 || target == "api_ops";
    if fork {
        // api_ops creates isolates by design, and under ASan the process
        // RSS grows ~0.45 MiB per isolate created and dropped (~1.8 MiB per
        // api_ops input) — not malloc (libFuzzer's OOM report shows ~30 MB
        // live), not ASan's quarantine (same with quarantine_size_mb=0); a
        // plain build stays flat. Fork mode runs short-lived child processes
        // and ignores their OOMs, so that growth cannot end a long campaign.
        cmd.arg(format!("-fork={}", jobs.max(1)));
        cmd.arg("-ignore_ooms=1");
    }
    cmd.args(extra);
    sanitizer_env(&mut cmd, root);
    let before = artifact_names(&artifacts)?;
    let mut outcome = run(&mut cmd);
    let found: Vec<String> = artifact_names(&artifacts)?
        .into_iter()
        .filter(|name| !before.contains(name))
        .collect();
    if outcome.is_err() && fork && !found.is_empty() && found.iter().all(|n| n.starts_with("oom-"))
    {
        // Fork mode exits with its last job's status even when that was an
        // ignored out-of-memory (see above); OOMs alone are not a finding.
        eprintln!(
            "xtask: {} ignored out-of-memory job(s) (ASan growth, see above): {}",
            found.len(),
            found.join(" ")
        );
        outcome = Ok(());
    }
    if outcome.is_err() {
        eprintln!(
            "xtask: the fuzzer stopped on a finding in {}; replay it with\n  cargo xtask repro {target} <file>",
            artifacts.display()
        );
    }
    outcome?;
    if merge {
        // Keeps only inputs that add coverage to the committed seeds.
        let mut cmd = cargo_command();
        cmd.args(["+nightly", "fuzz", "run", "--release", target])
            .arg(&seeds)
            .arg(&work)
            .args(["--", "-merge=1"])
            .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"));
        sanitizer_env(&mut cmd, root);
        run(&mut cmd)?;
        eprintln!("xtask: merged new coverage into {}", seeds.display());
    }
    Ok(())
}

fn artifact_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// `cargo xtask fuzz-smoke`: every target for `seconds` under ASan (CI).
pub fn smoke(root: &Path, seconds: u64) -> Result<()> {
    for target in TARGETS {
        libfuzzer(root, target, seconds, 1, false, &[])?;
    }
    Ok(())
}

/// cargo-afl keeps one AFL++ build per rustc version; build it when missing.
fn ensure_afl() -> Result<()> {
    ensure_installed("afl", "cargo-afl")?;
    let output = cargo_command()
        .args(["afl", "config", "--build"])
        .output()
        .context("running cargo afl config --build")?;
    let said = String::from_utf8_lossy(&output.stderr);
    if output.status.success() || said.contains("already built") {
        return Ok(());
    }
    bail!("cargo afl config --build failed:\n{said}");
}

/// `cargo xtask afl <target>`: AFL++ in persistent mode, one instance per job
/// (`-M` main plus `-S` secondaries), then a summary.
pub fn afl(root: &Path, target: &str, seconds: u64, jobs: u32) -> Result<()> {
    check_target(target)?;
    ensure_afl()?;
    let target_dir = root.join("target/afl");
    let mut build = cargo_command();
    build
        .args([
            "afl",
            "build",
            "--release",
            "-p",
            "v8cage-afl",
            "--bin",
            target,
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    if std::env::var_os("CARGO_BUILD_JOBS").is_none() {
        build.env("CARGO_BUILD_JOBS", "2");
    }
    run(&mut build)?;
    let binary = target_dir.join("release").join(target);
    let out = root.join("fuzz/afl-out").join(target);
    std::fs::create_dir_all(&out)?;
    let seeds = root.join("corpus").join(target);

    let mut instances = Vec::new();
    for job in 0..jobs.max(1) {
        let mut cmd = cargo_command();
        cmd.args(["afl", "fuzz"])
            .arg("-i")
            .arg(&seeds)
            .arg("-o")
            .arg(&out)
            .arg("-V")
            .arg(seconds.to_string())
            // V8 reserves far more address space than AFL's default limit;
            // our own timeout ends every input well within a second.
            .args(["-m", "none", "-t", "2000"]);
        if job == 0 {
            cmd.args(["-M", "main"]);
        } else {
            cmd.args(["-S", &format!("secondary{job}")]);
        }
        if let Some(dict) = dictionary(root, target) {
            cmd.arg("-x").arg(dict);
        }
        cmd.arg("--").arg(&binary);
        cmd.env("AFL_NO_UI", "1")
            .env("AFL_SKIP_CPUFREQ", "1")
            .env("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1")
            .env("AFL_AUTORESUME", "1");
        if job > 0 {
            cmd.stdout(std::process::Stdio::null());
        }
        eprintln!("xtask: running {cmd:?}");
        instances.push(cmd.spawn().context("starting afl-fuzz")?);
    }
    let mut failed = false;
    for mut child in instances {
        failed |= !child.wait()?.success();
    }
    afl_summary(&out)?;
    if failed {
        bail!("afl-fuzz failed (see its output above)");
    }
    Ok(())
}

/// Sums `fuzzer_stats` over the instances in `out`.
fn afl_summary(out: &Path) -> Result<()> {
    let mut execs_per_sec = 0.0;
    let mut total_execs = 0u64;
    let mut corpus = 0u64;
    let mut crashes = 0u64;
    let mut hangs = 0u64;
    let mut coverage = String::new();
    let mut instances = 0;
    for entry in std::fs::read_dir(out)? {
        let stats_file = entry?.path().join("fuzzer_stats");
        let Ok(text) = std::fs::read_to_string(&stats_file) else {
            continue;
        };
        instances += 1;
        let stats: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let number = |key: &str| stats.get(key).and_then(|v| v.parse::<f64>().ok());
        execs_per_sec += number("execs_per_sec").unwrap_or(0.0);
        total_execs += number("execs_done").unwrap_or(0.0) as u64;
        corpus += number("corpus_count").unwrap_or(0.0) as u64;
        crashes += number("saved_crashes").unwrap_or(0.0) as u64;
        hangs += number("saved_hangs").unwrap_or(0.0) as u64;
        if coverage.is_empty() {
            coverage = format!(
                "{} edges ({} of the map)",
                stats.get("edges_found").unwrap_or(&"?"),
                stats.get("bitmap_cvg").unwrap_or(&"?")
            );
        }
    }
    println!(
        "AFL++ summary for {} ({instances} instances)",
        out.display()
    );
    println!("  execs/s (sum)  {execs_per_sec:.0}");
    println!("  execs          {total_execs}");
    println!("  corpus         {corpus}");
    println!("  coverage       {coverage}");
    println!("  crashes        {crashes}");
    println!("  hangs          {hangs}");
    if crashes + hangs > 0 {
        println!(
            "  findings in {}/*/crashes and */hangs; replay with cargo xtask repro",
            out.display()
        );
    }
    Ok(())
}

/// `cargo xtask repro <target> <file>`: the decoded input and its outcome.
pub fn repro(target: &str, file: &Path) -> Result<()> {
    check_target(target)?;
    let mut cmd = cargo_command();
    cmd.args([
        "run",
        "--quiet",
        "-p",
        "v8cage",
        "--features",
        "fuzzing",
        "--example",
        "repro",
        "--",
        target,
    ])
    .arg(file);
    let status = cmd.status().context("running the repro example")?;
    std::process::exit(status.code().unwrap_or(1));
}

/// `cargo xtask coverage <target>`: source coverage of our code over the
/// seeds and the fuzzer's corpus, as an HTML report.
pub fn coverage(root: &Path, target: &str) -> Result<()> {
    check_target(target)?;
    ensure_nightly()?;
    ensure_installed("fuzz", "cargo-fuzz")?;
    let sysroot = String::from_utf8(
        Command::new("rustc")
            .args(["+nightly", "--print", "sysroot"])
            .output()?
            .stdout,
    )?;
    let tools = Path::new(sysroot.trim()).join("lib/rustlib/x86_64-unknown-linux-gnu/bin");
    if !tools.join("llvm-cov").exists() {
        run(Command::new("rustup").args([
            "component",
            "add",
            "llvm-tools",
            "--toolchain",
            "nightly",
        ]))?;
    }
    let work = root.join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&work)?;
    let mut cmd = cargo_command();
    cmd.args(["+nightly", "fuzz", "coverage", target])
        .arg(&work)
        .arg(root.join("corpus").join(target));
    sanitizer_env(&mut cmd, root);
    run(&mut cmd)?;

    let profile = root
        .join("fuzz/coverage")
        .join(target)
        .join("coverage.profdata");
    // cargo-fuzz puts the coverage build under the target folder of the
    // directory it runs from; look in both places it can be.
    let built = Path::new("x86_64-unknown-linux-gnu/coverage/x86_64-unknown-linux-gnu/release");
    let binary = ["target", "fuzz/target"]
        .iter()
        .map(|dir| root.join(dir).join(built).join(target))
        .find(|path| path.is_file())
        .context("cargo fuzz coverage built no binary where expected")?;
    let html = root.join("fuzz/coverage").join(target).join("html");
    let only_ours = "/.cargo/registry/|/rustc/|/fuzz_targets/";
    let llvm_cov = tools.join("llvm-cov");
    let common: Vec<OsString> = vec![
        "-instr-profile".into(),
        profile.into_os_string(),
        binary.into_os_string(),
        format!("-ignore-filename-regex={only_ours}").into(),
    ];
    run(Command::new(&llvm_cov)
        .arg("show")
        .args(&common)
        .args(["-format=html", "-show-line-counts-or-regions"])
        .arg(format!("-output-dir={}", html.display())))?;
    run(Command::new(&llvm_cov).arg("report").args(&common))?;
    println!("coverage report: {}", html.join("index.html").display());
    Ok(())
}
