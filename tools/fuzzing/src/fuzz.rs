//! Fuzzing tasks: libFuzzer (cargo-fuzz), AFL++ (cargo-afl), replay of one
//! input, coverage reports, and the CI smoke run.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use crate::campaign::{self, LibFuzzerSample, Series};
use devtools::cmd::{cargo_command, run};
use devtools::toolchain::{ensure_clang, ensure_installed, ensure_nightly};

/// Targets whose process grows under ASan while a plain build stays flat,
/// run in libFuzzer's fork mode (short-lived children, OOMs ignored) even
/// with one job, so that the growth cannot end a long campaign. `api_ops`
/// creates isolates by design (~0.04 MiB of ASan shadow per input; ~2.3 MiB
/// before the shim let the kernel place V8's pages, see
/// core/shim/testing/kernel_placed_pages.cc); the differential targets
/// compile with TurboFan or run workers (`jit_diff`: 0.65 -> 2 GiB in 28,000
/// inputs under ASan, a flat 55 MiB over 8,000 without).
const GROWING_UNDER_ASAN: &[&str] = &["api_ops", "jit_diff", "quickjs_diff", "config_diff"];

/// Targets whose inputs are scripts that can reach V8 10.2 builtins that
/// ignore termination (README, "Known limits": e.g. a sparse array of
/// length 2^32-1 turned into a string walks every index, minutes under
/// ASan). They run in fork mode with libFuzzer's timeouts ignored, and each
/// timeout is re-run alone in a process context: if the cage's kill ends it
/// as a `Timeout`, it is a known V8 stall (kept in
/// `fuzz/artifacts/<target>/known-v8-stalls/`), otherwise a finding.
const STALLING_IN_V8: &[&str] = &["eval", "eval_gen"];

/// The fuzz targets, named by their libFuzzer drivers in
/// `fuzz/fuzz_targets/` (one per entry of `v8cage_harness::TARGETS`; the
/// harness's corpus test checks both agree). xtask cannot link the harness:
/// it must build before V8 is installed.
pub fn targets(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("fuzz/fuzz_targets");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            if let Some(stem) = path.file_stem() {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

pub fn check_target(root: &Path, target: &str) -> Result<()> {
    let targets = targets(root)?;
    if !targets.iter().any(|t| t == target) {
        bail!(
            "unknown fuzz target {target:?}; targets: {}",
            targets.join(", ")
        );
    }
    Ok(())
}

/// A dictionary for targets whose input is text: `corpus/dicts/<target>.dict`
/// (the name ClusterFuzzLite and OSS-Fuzz look for).
pub fn dictionary(root: &Path, target: &str) -> Option<PathBuf> {
    Some(root.join("corpus/dicts").join(format!("{target}.dict"))).filter(|path| path.is_file())
}

/// The libFuzzer flags in `fuzz/options/<target>.options` (RSS limit, hang
/// timeout, length control), as `-name=value`: the same file ClusterFuzzLite
/// and OSS-Fuzz read, so a local campaign runs under the same settings.
///
/// Read by hand: the format is `name = value` lines under `[libfuzzer]`,
/// with `#` comments; an INI crate would add a dependency for ten lines.
fn libfuzzer_options(root: &Path, target: &str) -> Result<Vec<String>> {
    let path = root.join("fuzz/options").join(format!("{target}.options"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut section = "";
    let mut flags = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
        } else if section == "libfuzzer" {
            let (name, value) = line
                .split_once('=')
                .with_context(|| format!("{}: not `name = value`: {line}", path.display()))?;
            flags.push(format!("-{}={}", name.trim(), value.trim()));
        }
    }
    Ok(flags)
}

/// The V8 a libFuzzer build links.
enum FuzzingV8 {
    /// `V8CAGE_V8_DIR`, as the caller set it.
    Given(PathBuf),
    /// The cache's `asan-cov` build of the current V8 (`cargo xtask v8
    /// build asan-cov`): libFuzzer sees V8's edges too.
    Current(PathBuf),
    /// The cache's `asan-cov` build of V8 10.2 (`cargo xtask v8
    /// build-node18 asan-cov`): V8's edges, of the fallback engine.
    SelfBuilt(PathBuf),
    /// Debian's libnode (`cargo xtask setup`): only v8cage's edges.
    Debian,
}

impl FuzzingV8 {
    fn apply(&self, cmd: &mut Command) {
        if let FuzzingV8::Current(prefix) | FuzzingV8::SelfBuilt(prefix) = self {
            cmd.env("V8CAGE_V8_DIR", prefix);
        }
    }
}

/// Picks the V8 and says which it is.
fn fuzzing_v8() -> FuzzingV8 {
    let v8 = match std::env::var_os("V8CAGE_V8_DIR") {
        Some(dir) => FuzzingV8::Given(dir.into()),
        None => match (
            v8build::current::cached_prefix("asan-cov"),
            v8build::cached_prefix("asan-cov"),
        ) {
            (Some(prefix), _) => FuzzingV8::Current(prefix),
            (None, Some(prefix)) => FuzzingV8::SelfBuilt(prefix),
            (None, None) => FuzzingV8::Debian,
        },
    };
    match &v8 {
        FuzzingV8::Given(dir) => eprintln!("xtask fuzz: V8 from V8CAGE_V8_DIR={}", dir.display()),
        FuzzingV8::Current(prefix) => eprintln!(
            "xtask fuzz: V8 = the current V8 {}, asan-cov, in {} (coverage inside V8)",
            v8build::current::V8_VERSION,
            prefix.display()
        ),
        FuzzingV8::SelfBuilt(prefix) => eprintln!(
            "xtask fuzz: V8 = V8 10.2's self-built asan-cov in {} (coverage inside V8)",
            prefix.display()
        ),
        FuzzingV8::Debian => eprintln!(
            "xtask fuzz: V8 = Debian's libnode, not instrumented (only v8cage's edges; `cargo xtask v8 build asan-cov --idle` for the current V8's, hours)"
        ),
    }
    v8
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

/// `cargo xtask fuzz <target>`: libFuzzer with ASan, seeded from `corpus/`.
pub fn libfuzzer(
    root: &Path,
    target: &str,
    seconds: u64,
    jobs: u32,
    merge: bool,
    extra: &[String],
) -> Result<()> {
    check_target(root, target)?;
    ensure_nightly()?;
    ensure_installed("fuzz", "cargo-fuzz")?;
    ensure_clang()?;
    let v8 = fuzzing_v8();
    // Built first, so the campaign's time and rate are the fuzzer's alone.
    let build_started = Instant::now();
    let mut build = cargo_command();
    build.args(["+nightly", "fuzz", "build", "--release", target]);
    sanitizer_env(&mut build, root);
    v8.apply(&mut build);
    run(&mut build)?;
    let build_seconds = build_started.elapsed().as_secs();
    let work = root.join("fuzz/corpus").join(target);
    let artifacts = root.join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&artifacts)?;
    let seeds = root.join("corpus").join(target);

    let options = libfuzzer_options(root, target)?;
    let mut cmd = cargo_command();
    cmd.args(["+nightly", "fuzz", "run", "--release", target])
        .arg(&work)
        .arg(&seeds)
        .arg("--")
        .args(&options)
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1");
    if let Some(dict) = dictionary(root, target) {
        cmd.arg(format!("-dict={}", dict.display()));
    }
    let stalling = STALLING_IN_V8.contains(&target);
    let fork = jobs > 1 || GROWING_UNDER_ASAN.contains(&target) || stalling;
    if fork {
        // One process per job, all sharing fuzz/corpus/<target>: the parent
        // merges what each child finds and starts the next from it.
        //
        // GROWING_UNDER_ASAN targets run this way with one job too.
        cmd.arg(format!("-fork={}", jobs.max(1)));
        cmd.arg("-ignore_ooms=1");
        if stalling {
            // Triaged afterwards, each by a contained re-run (see above).
            cmd.args(["-ignore_timeouts=1", "-ignore_crashes=1"]);
        }
    }
    cmd.args(extra);
    sanitizer_env(&mut cmd, root);
    v8.apply(&mut cmd);
    let record = root.join("fuzz/campaigns").join(target);
    std::fs::create_dir_all(&record)?;
    let before = artifact_names(&artifacts)?;
    let log = record.join("libfuzzer.log");
    let (mut outcome, samples) = run_recording(&mut cmd, &log, fork);
    let mut found: Vec<String> = artifact_names(&artifacts)?
        .into_iter()
        .filter(|name| !before.contains(name))
        .collect();
    if let [crash] = &found[..] {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if outcome.is_err() && crash.starts_with("crash-") && is_known_v8_abort(&text) {
            // V8's own abort on a size the script chose: a documented limit,
            // kept apart so it does not read as a v8cage finding.
            let known = artifacts.join("known-v8-aborts");
            std::fs::create_dir_all(&known)?;
            std::fs::rename(artifacts.join(crash), known.join(crash))?;
            eprintln!(
                "xtask: the fuzzer stopped on a known V8 10.2 abort (README, \"Known limits\"); input kept in {}",
                known.display()
            );
            found.clear();
            outcome = Ok(());
        }
    }
    let mut known_stalls = 0;
    if stalling {
        for name in found.clone() {
            let folder = match contained_rerun(target, &artifacts.join(&name))? {
                Some(V8Failure::Stall) => "known-v8-stalls",
                Some(V8Failure::Abort) => "known-v8-aborts",
                None => continue,
            };
            let known = artifacts.join(folder);
            std::fs::create_dir_all(&known)?;
            std::fs::rename(artifacts.join(&name), known.join(&name))?;
            found.retain(|n| *n != name);
            known_stalls += 1;
        }
    }
    let ignored_ooms = found.iter().filter(|n| n.starts_with("oom-")).count();
    let only_ignored = ignored_ooms == found.len() && (ignored_ooms + known_stalls) > 0;
    if outcome.is_err() && fork && only_ignored {
        // Fork mode exits with its last job's status even when that was an
        // ignored out-of-memory (see above); OOMs alone are not a finding.
        outcome = Ok(());
    }
    libfuzzer_summary(&LibFuzzerCampaign {
        target,
        build_seconds,
        jobs,
        fork,
        samples: &samples,
        record: &record,
        corpus: &work,
        artifacts: &artifacts,
        found: &found,
        ignored_ooms,
        known_stalls,
    })?;
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
            .args(&options);
        sanitizer_env(&mut cmd, root);
        v8.apply(&mut cmd);
        run(&mut cmd)?;
        eprintln!("xtask: merged new coverage into {}", seeds.display());
    }
    Ok(())
}

/// V8 10.2's fatal errors on sizes a script chose (README, "Known limits"):
/// no embedder can catch them, and in-process fuzz targets reach them (the
/// eval smoke run found `'<86 chars>'.repeat(2e6).split('')` in 5 s). Only
/// these: a V8 `Check failed` or an out-of-memory abort may be v8cage's bug.
const KNOWN_V8_ABORTS: &[&str] = &[
    "# Fatal JavaScript invalid size error",
    "# Fatal javascript OOM in invalid array length",
];

/// Whether a fuzzer's log ends in one of the known V8 aborts.
fn is_known_v8_abort(log: &str) -> bool {
    let Some(signal) = log.rfind("ERROR: libFuzzer: deadly signal") else {
        return false;
    };
    let before = &log[..signal];
    // The V8 message is the last thing V8 printed before the signal.
    let last_fatal = before.rfind("# Fatal");
    last_fatal.is_some_and(|at| KNOWN_V8_ABORTS.iter().any(|m| before[at..].starts_with(m)))
}

/// Runs the fuzzer, passing its output through and into `log`, and
/// collects its status lines stamped with the time since libFuzzer started
/// (its first `INFO:` line: cargo builds the target before, which a 60 s
/// campaign once reported as 114 s of fuzzing).
fn run_recording(cmd: &mut Command, log: &Path, fork: bool) -> (Result<()>, Vec<LibFuzzerSample>) {
    let mut samples = Vec::new();
    let outcome = (|| {
        eprintln!("xtask: running {cmd:?}");
        let mut log = std::io::BufWriter::new(File::create(log)?);
        // libFuzzer reports on stderr; cargo's own lines come first.
        let mut child = cmd.stderr(Stdio::piped()).spawn()?;
        let mut started = None;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        for line in BufReader::new(stderr).lines() {
            let line = line?;
            eprintln!("{line}");
            writeln!(log, "{line}")?;
            if started.is_none() && line.starts_with("INFO:") {
                started = Some(Instant::now());
            }
            let seconds = started.map_or(0.0, |s: Instant| s.elapsed().as_secs_f64());
            samples.extend(campaign::parse_libfuzzer_line(&line, seconds, fork));
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("{cmd:?} failed with {status}");
        }
        Ok(())
    })();
    (outcome, samples)
}

struct LibFuzzerCampaign<'a> {
    target: &'a str,
    build_seconds: u64,
    jobs: u32,
    fork: bool,
    samples: &'a [LibFuzzerSample],
    record: &'a Path,
    corpus: &'a Path,
    artifacts: &'a Path,
    found: &'a [String],
    ignored_ooms: usize,
    /// Timeouts and crashes a re-run in a process context showed to be V8's.
    known_stalls: usize,
}

/// Prints what the campaign did and writes its coverage over time.
fn libfuzzer_summary(campaign: &LibFuzzerCampaign) -> Result<()> {
    let csv = campaign.record.join("libfuzzer.csv");
    let svg = campaign.record.join("libfuzzer.svg");
    std::fs::write(&csv, campaign::libfuzzer_csv(campaign.samples))?;
    let series = |name: &str, value: fn(&LibFuzzerSample) -> f64| Series {
        name: name.to_string(),
        points: campaign
            .samples
            .iter()
            .map(|s| (s.seconds, value(s)))
            .collect(),
    };
    let title = format!("libFuzzer {} ({} jobs)", campaign.target, campaign.jobs);
    campaign::plot_svg(
        &svg,
        &title,
        &[
            (
                "coverage",
                vec![
                    series("edges (cov)", |s| s.coverage as f64),
                    series("features (ft)", |s| s.features as f64),
                ],
            ),
            ("corpus", vec![series("inputs", |s| s.corpus as f64)]),
            ("execs/s", vec![series("exec/s", |s| s.execs_per_sec)]),
        ],
    )?;
    let mode = if campaign.fork {
        "fork mode"
    } else {
        "one process"
    };
    println!(
        "libFuzzer summary for {} ({} jobs, {mode})",
        campaign.target, campaign.jobs
    );
    match campaign.samples.last() {
        Some(last) => {
            let rate = last.execs as f64 / last.seconds.max(1e-3);
            println!(
                "  time           {:.0} s fuzzing (the build before took {} s)",
                last.seconds, campaign.build_seconds
            );
            println!("  execs          {} ({rate:.0}/s overall)", last.execs);
            println!(
                "  coverage       {} edges, {} features",
                last.coverage, last.features
            );
            println!(
                "  corpus         {} inputs ({})",
                last.corpus,
                campaign.corpus.display()
            );
        }
        None => println!("  (no status line: the fuzzer stopped before its first report)"),
    }
    let findings = campaign.found.len() - campaign.ignored_ooms;
    println!(
        "  findings       {findings} new in {}",
        campaign.artifacts.display()
    );
    if campaign.ignored_ooms > 0 {
        println!(
            "  ignored OOMs   {} (ASan growth in long runs, see GROWING_UNDER_ASAN)",
            campaign.ignored_ooms
        );
    }
    if campaign.known_stalls > 0 {
        println!(
            "  V8's own       {} (stalls and size aborts, contained when re-run alone; in {}/known-v8-*)",
            campaign.known_stalls,
            campaign.artifacts.display()
        );
    }
    println!("  plot           {}", svg.display());
    println!("  data           {}", csv.display());
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
    for target in targets(root)? {
        libfuzzer(root, &target, seconds, 1, false, &[])?;
    }
    Ok(())
}

/// A failure of V8 itself, shown by re-running an input alone in a process
/// context.
enum V8Failure {
    /// A builtin that ignores termination; the cage's kill ended it.
    Stall,
    /// One of V8 10.2's fatal errors on sizes a script chooses.
    Abort,
}

/// What `file`, a timeout or crash of a [`STALLING_IN_V8`] target, does when
/// re-run alone in a process context (`repro --contained`): `None` when it
/// is not a known failure of V8's (a finding, or not reproducible alone).
fn contained_rerun(target: &str, file: &Path) -> Result<Option<V8Failure>> {
    let status = cargo_command()
        .args(["run", "--quiet", "--release", "-p", "v8cage-harness"])
        .args(["--example", "repro", "--", "--contained", target])
        .arg(file)
        .status()
        .context("re-running an input in a process context")?;
    Ok(match status.code() {
        Some(0) => Some(V8Failure::Stall),
        Some(3) => Some(V8Failure::Abort),
        _ => None,
    })
}

/// `cargo xtask repro <target> <file>`: the decoded input and its outcome.
pub fn repro(root: &Path, target: &str, file: &Path) -> Result<()> {
    check_target(root, target)?;
    let mut cmd = cargo_command();
    cmd.args([
        "run",
        "--quiet",
        "-p",
        "v8cage-harness",
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
    check_target(root, target)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_options_that_parse_into_libfuzzer_flags() {
        let root = crate::tests_support::workspace_root();
        let targets = targets(&root).unwrap();
        assert!(targets.len() >= 5, "{targets:?}");
        for target in &targets {
            let flags = libfuzzer_options(&root, target).unwrap();
            assert!(
                flags.iter().any(|f| f == "-rss_limit_mb=4096"),
                "{target}: {flags:?}"
            );
            assert!(
                flags.iter().any(|f| f.starts_with("-timeout=")),
                "{target}: {flags:?}"
            );
            assert!(flags.iter().all(|f| f.starts_with('-') && f.contains('=')));
        }
        let generator = libfuzzer_options(&root, "eval_gen").unwrap();
        assert!(generator.contains(&"-len_control=0".to_string()));
    }

    #[test]
    fn only_v8s_size_aborts_are_known() {
        let crash = "#1 NEW cov: 1\n#\n# Fatal error in , line 0\n# Fatal JavaScript invalid size error 162000000\n#\n==1== ERROR: libFuzzer: deadly signal\n";
        assert!(is_known_v8_abort(crash));
        let oom =
            "# Fatal javascript OOM in invalid array length\n==1== ERROR: libFuzzer: deadly signal";
        assert!(is_known_v8_abort(oom));
        let check = "# Fatal error in ../src/api.cc\n# Check failed: !IsEmpty().\n==1== ERROR: libFuzzer: deadly signal";
        assert!(!is_known_v8_abort(check));
        let heap = "# Fatal process out of memory: Reached heap limit\n==1== ERROR: libFuzzer: deadly signal";
        assert!(!is_known_v8_abort(heap));
        let panic = "panicked at oracle\n==1== ERROR: libFuzzer: deadly signal";
        assert!(!is_known_v8_abort(panic));
        let asan = "# Fatal JavaScript invalid size error 1\n==1==ERROR: AddressSanitizer: heap-use-after-free";
        assert!(!is_known_v8_abort(asan));
    }

    #[test]
    fn dictionaries_are_found_by_target_name() {
        let root = crate::tests_support::workspace_root();
        assert!(dictionary(&root, "eval").is_some_and(|d| d.ends_with("eval.dict")));
        assert!(dictionary(&root, "json").is_some());
        assert_eq!(dictionary(&root, "roundtrip"), None);
    }
}
