//! `cargo xtask bench`: the core criterion bench (`core/benches/core.rs`),
//! then every measurement of that run in one table with its ratio to the
//! raw floor (`1+1` compiled and run straight in the shim) of the same run.
//!
//! `cargo xtask bench --check`: that bench and the Python side-by-side one
//! in one go, their ratios (each measured within the run, so the machine's
//! speed cancels) against `bench/baseline.json`; `--update` rewrites it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::python;
use devtools::cmd::{cargo_command, run};

/// The floor every ratio is taken to.
const FLOOR: &str = "raw_floor_1+1";

/// The core bench on every engine at hand, in one table: Debian's V8 (what
/// every build links) and the current V8 when its `release` build is cached
/// (a target folder of its own, as the tests on it use).
pub fn run_core(root: &Path, bench_args: &[String]) -> Result<()> {
    let mut engines = vec![("Debian's V8".to_string(), Vec::new())];
    match v8build::current::cached_prefix("release") {
        Some(prefix) => engines.push((
            format!("V8 {}", v8build::current::V8_VERSION),
            vec![
                ("V8CAGE_V8_DIR", prefix),
                ("CARGO_TARGET_DIR", root.join("target/v8-current")),
            ],
        )),
        None => eprintln!(
            "xtask bench: the current V8 {}: SKIPPED, its `release` build is not in the cache \
             (`cargo xtask v8 build release --idle`)",
            v8build::current::V8_VERSION
        ),
    }
    let mut tables = Vec::new();
    for (name, env) in &engines {
        tables.push(measure_core(root, bench_args, env)?);
        eprintln!("xtask bench: measured on {name}");
    }
    print!("\n{:<44}", "benchmark (one run per engine)");
    for (name, _) in &engines {
        print!(" {name:>22} {:>8}", "x floor");
    }
    println!();
    let ids: std::collections::BTreeSet<&String> = tables
        .iter()
        .flat_map(|table| table.iter().map(|(id, _)| id))
        .collect();
    for id in ids {
        print!("{id:<44}");
        for table in &tables {
            // A filter may leave the floor out: then no ratios.
            let floor = table.iter().find(|(id, _)| id == FLOOR).map(|m| m.1);
            match table.iter().find(|(other, _)| other == id) {
                Some((_, mean_ns)) => {
                    let ratio =
                        floor.map_or("-".to_owned(), |floor| format!("{:.2}", mean_ns / floor));
                    print!(" {:>22} {ratio:>8}", human(*mean_ns));
                }
                None => print!(" {:>22} {:>8}", "-", "-"),
            }
        }
        println!();
    }
    Ok(())
}

/// glibc's allocator, left alone, raises its mmap and trim thresholds to
/// the largest block freed so far: whether a 1 MB result's ~5 MB of small
/// allocations are given back to the kernel (and faulted in again) on every
/// evaluation then depends on which earlier benchmark freed the largest
/// block. Measured alone, `process/convert_1mb_object` was 1.3x its
/// in-process twin; after the benches before it, 1.0x here and 1.34x on
/// another machine. Fixed thresholds take that history out of the ratios.
const FIXED_MALLOC_THRESHOLDS: [(&str, &str); 2] = [
    ("MALLOC_MMAP_THRESHOLD_", "33554432"),
    ("MALLOC_TRIM_THRESHOLD_", "67108864"),
];

/// (id, mean ns) of every benchmark of one run of the core bench, built
/// with `env` (another V8: `V8CAGE_V8_DIR` and `CARGO_TARGET_DIR`).
fn measure_core(
    root: &Path,
    bench_args: &[String],
    env: &[(&str, PathBuf)],
) -> Result<Vec<(String, f64)>> {
    let results = criterion_dir(root, env);
    // Only this run's figures: criterion keeps those of benches not run.
    if results.exists() {
        std::fs::remove_dir_all(&results)
            .with_context(|| format!("clearing {}", results.display()))?;
    }
    let mut bench = cargo_command();
    bench
        .current_dir(root)
        .args(["bench", "-p", "v8cage", "--bench", "core", "--"])
        .args(bench_args)
        .envs(env.iter().map(|(name, value)| (name, value)));
    for (name, value) in FIXED_MALLOC_THRESHOLDS {
        bench.env(name, value);
    }
    run(&mut bench)?;
    let measured = read_means(&results)?;
    if measured.is_empty() {
        bail!("criterion wrote no figures (a filter that matches nothing?)");
    }
    Ok(measured)
}

fn criterion_dir(root: &Path, env: &[(&str, PathBuf)]) -> PathBuf {
    env.iter()
        .find(|(name, _)| *name == "CARGO_TARGET_DIR")
        .map(|(_, dir)| dir.clone())
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join("target"))
        .join("criterion")
}

/// (full id, mean in ns) of every benchmark criterion wrote, sorted by id.
fn read_means(results: &Path) -> Result<Vec<(String, f64)>> {
    let mut measured = Vec::new();
    for entry in
        std::fs::read_dir(results).with_context(|| format!("reading {}", results.display()))?
    {
        let new = entry?.path().join("new");
        let (Ok(about), Ok(estimates)) = (
            std::fs::read_to_string(new.join("benchmark.json")),
            std::fs::read_to_string(new.join("estimates.json")),
        ) else {
            continue; // criterion's report folder, not a benchmark
        };
        let about: Json = serde_json::from_str(&about)?;
        let estimates: Json = serde_json::from_str(&estimates)?;
        let id = about["full_id"]
            .as_str()
            .context("benchmark.json without full_id")?;
        let mean = estimates["mean"]["point_estimate"]
            .as_f64()
            .context("estimates.json without a mean")?;
        measured.push((id.to_owned(), mean));
    }
    measured.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(measured)
}

fn human(ns: f64) -> String {
    match ns {
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

/// Where the gate's baseline lives (committed).
const BASELINE: &str = "bench/baseline.json";

/// The committed reference: each ratio (higher is worse) and how much
/// worse a run may measure before the gate fails.
#[derive(Serialize, Deserialize)]
struct Baseline {
    /// How the figures were taken (machine, number of runs), for the reader.
    about: String,
    /// A ratio fails when it exceeds its baseline by more than this
    /// fraction, or by NOISE_MARGIN times its own measured noise where that
    /// is more (bench/README.md has the figures).
    tolerance: f64,
    ratios: BTreeMap<String, f64>,
    /// Each ratio's spread over the runs of the update, (max - min) /
    /// median: the noise the tolerance has to cover.
    #[serde(default)]
    noise: BTreeMap<String, f64>,
}

/// Runs behind a baseline.
const UPDATE_RUNS: usize = 3;

/// How many times its spread over the update's runs a ratio may move: the
/// spread of three runs understates the range of many.
const NOISE_MARGIN: f64 = 2.0;

impl Baseline {
    /// How much worse than its baseline `name` may measure, as a fraction.
    fn allowance(&self, name: &str) -> f64 {
        let noise = self.noise.get(name).copied().unwrap_or(0.0);
        self.tolerance.max(NOISE_MARGIN * noise)
    }
}

/// `cargo xtask bench --check` (or `--update`).
pub fn gate(root: &Path, update: bool) -> Result<()> {
    let path = root.join(BASELINE);
    let previous: Option<Baseline> = match std::fs::read_to_string(&path) {
        Ok(text) => Some(
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
        ),
        Err(_) => None,
    };
    if update {
        return update_baseline(root, &path, previous.map(|b| b.tolerance));
    }
    let Some(baseline) = previous else {
        bail!("no baseline at {BASELINE}: `cargo xtask bench --update` writes one");
    };
    let mut now = measure_ratios(root)?;
    let mut verdicts = compare(&baseline, &now);
    if verdicts.iter().any(|v| v.verdict == Verdict::Worse) {
        // A moment of load elsewhere on the machine can skew one run: a
        // ratio fails only if the second run is no better.
        eprintln!("xtask bench: a ratio measured worse than the baseline; measuring again");
        let again = measure_ratios(root)?;
        for (name, ratio) in &mut now {
            if let Some(second) = again.get(name) {
                *ratio = ratio.min(*second);
            }
        }
        verdicts = compare(&baseline, &now);
    }
    println!(
        "\n{:<56} {:>10} {:>10} {:>8} {:>8}  (ratios within one run, higher is worse)",
        "ratio", "baseline", "now", "change", "allowed"
    );
    for v in &verdicts {
        let shown = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.3}"));
        let change = match (v.baseline, v.now) {
            (Some(b), Some(n)) => format!("{:+.0}%", (n / b - 1.0) * 100.0),
            _ => "-".to_owned(),
        };
        println!(
            "{:<56} {:>10} {:>10} {change:>8} {:>7.0}%  {}",
            v.name,
            shown(v.baseline),
            shown(v.now),
            v.allowance * 100.0,
            v.verdict.describe()
        );
    }
    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.verdict.fails())
        .map(|v| v.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} ratio(s) worse than {BASELINE} allows: {} (a deliberate change: cargo xtask bench --update)",
            failed.len(),
            failed.join(", ")
        );
    }
    println!("xtask bench: every ratio within its baseline");
    Ok(())
}

/// `--update`: the median of UPDATE_RUNS runs, and their spread (the
/// noise the tolerance has to allow for), written to `path`; the
/// tolerance stays what it was.
fn update_baseline(root: &Path, path: &Path, tolerance: Option<f64>) -> Result<()> {
    let mut runs = Vec::new();
    for _ in 0..UPDATE_RUNS {
        runs.push(measure_ratios(root)?);
    }
    let mut ratios = BTreeMap::new();
    let mut noise = BTreeMap::new();
    for name in runs[0].keys() {
        let mut values: Vec<f64> = runs.iter().filter_map(|r| r.get(name).copied()).collect();
        values.sort_by(f64::total_cmp);
        let median = values[values.len() / 2];
        ratios.insert(name.clone(), median);
        noise.insert(
            name.clone(),
            (values[values.len() - 1] - values[0]) / median,
        );
    }
    let baseline = Baseline {
        about: format!(
            "cargo xtask bench --update on {}: medians of {UPDATE_RUNS} runs",
            machine()
        ),
        tolerance: tolerance.unwrap_or(DEFAULT_TOLERANCE),
        ratios,
        noise,
    };
    std::fs::write(path, serde_json::to_string_pretty(&baseline)? + "\n")?;
    println!(
        "\n{:<56} {:>10} {:>8} {:>8}",
        "ratio", "median", "spread", "allowed"
    );
    for (name, ratio) in &baseline.ratios {
        println!(
            "{name:<56} {ratio:>10.3} {:>7.0}% {:>7.0}%",
            baseline.noise[name] * 100.0,
            baseline.allowance(name) * 100.0
        );
    }
    println!(
        "xtask bench: wrote {BASELINE}; a ratio may be worse by the larger of +{:.0}% and {NOISE_MARGIN} x its spread ((max - min) / median of the runs)",
        baseline.tolerance * 100.0
    );
    Ok(())
}

/// One run of both benches, as the gate's ratios.
fn measure_ratios(root: &Path) -> Result<BTreeMap<String, f64>> {
    let core = measure_core(root, &[], &[])?;
    let python = python::bench_figures(root)?;
    ratios(&core, &python)
}

/// Used by `--update` when there is no baseline yet.
const DEFAULT_TOLERANCE: f64 = 0.25;

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

/// Benchmarks of a fixed duration (a timeout's length), not of our speed.
fn is_timing_bench(id: &str) -> bool {
    id.contains("timeout_10ms")
}

/// The gate's ratios, each of two figures of the same run, higher is
/// worse: every in-process benchmark / the raw floor, each process-mode
/// benchmark / its in-process twin, v8cage / mini-racer per Python case.
fn ratios(core: &[(String, f64)], python: &[(String, f64, f64)]) -> Result<BTreeMap<String, f64>> {
    let figure = |id: &str| core.iter().find(|(i, _)| i == id).map(|m| m.1);
    let floor = figure(FLOOR).context("the core bench measured no raw floor")?;
    let mut ratios = BTreeMap::new();
    for (id, mean) in core {
        if is_timing_bench(id) {
            continue;
        }
        if let Some(name) = id.strip_prefix("in_process/") {
            ratios.insert(format!("core {name} / raw floor"), mean / floor);
        }
        if let Some(name) = id.strip_prefix("process/") {
            if let Some(twin) = figure(&format!("in_process/{name}")) {
                ratios.insert(format!("core {name}: process / in-process"), mean / twin);
            }
        }
    }
    for (case, ours, theirs) in python {
        ratios.insert(format!("python {case}: v8cage / mini-racer"), ours / theirs);
    }
    Ok(ratios)
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Within,
    /// Better by more than the tolerance: worth a deliberate `--update`.
    Better,
    Worse,
    /// In the baseline, not measured now (renamed or removed).
    Missing,
    /// Measured now, not in the baseline yet.
    New,
}

impl Verdict {
    fn fails(&self) -> bool {
        matches!(self, Verdict::Worse | Verdict::Missing)
    }

    fn describe(&self) -> &'static str {
        match self {
            Verdict::Within => "ok",
            Verdict::Better => "better (--update to keep it)",
            Verdict::Worse => "WORSE",
            Verdict::Missing => "MISSING",
            Verdict::New => "new (not gated until --update)",
        }
    }
}

struct Compared {
    name: String,
    baseline: Option<f64>,
    now: Option<f64>,
    /// What the baseline allowed (`Baseline::allowance`).
    allowance: f64,
    verdict: Verdict,
}

fn compare(baseline: &Baseline, now: &BTreeMap<String, f64>) -> Vec<Compared> {
    let mut names: Vec<&String> = baseline.ratios.keys().chain(now.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let (before, after) = (baseline.ratios.get(name).copied(), now.get(name).copied());
            let allowance = baseline.allowance(name);
            let verdict = match (before, after) {
                (Some(b), Some(n)) if n > b * (1.0 + allowance) => Verdict::Worse,
                (Some(b), Some(n)) if n * (1.0 + allowance) < b => Verdict::Better,
                (Some(_), Some(_)) => Verdict::Within,
                (Some(_), None) => Verdict::Missing,
                (None, _) => Verdict::New,
            };
            Compared {
                name: name.clone(),
                baseline: before,
                now: after,
                allowance,
                verdict,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> Vec<(String, f64)> {
        [
            (FLOOR, 400.0),
            ("in_process/eval_1+1", 800.0),
            ("process/eval_1+1", 8000.0),
            ("in_process/timeout_10ms_endless_loop", 1e7),
        ]
        .map(|(id, ns)| (id.to_owned(), ns))
        .to_vec()
    }

    #[test]
    fn ratios_are_taken_within_the_run_and_timing_benches_left_out() {
        let python = vec![("eval".to_owned(), 2e-6, 4e-6)];
        let ratios = ratios(&core(), &python).unwrap();
        assert_eq!(ratios["core eval_1+1 / raw floor"], 2.0);
        assert_eq!(ratios["core eval_1+1: process / in-process"], 10.0);
        assert_eq!(ratios["python eval: v8cage / mini-racer"], 0.5);
        assert_eq!(ratios.len(), 3, "{ratios:?}");
    }

    #[test]
    fn a_ratio_worse_than_its_allowance_or_missing_fails_and_others_pass() {
        let baseline = Baseline {
            about: String::new(),
            tolerance: 0.25,
            ratios: [("a", 2.0), ("b", 2.0), ("c", 2.0), ("gone", 1.0)]
                .map(|(n, r)| (n.to_owned(), r))
                .into(),
            noise: [("noisy", 0.3)].map(|(n, r)| (n.to_owned(), r)).into(),
        };
        let now = [("a", 2.4), ("b", 2.6), ("c", 1.5), ("fresh", 9.0)]
            .map(|(n, r)| (n.to_owned(), r))
            .into();
        let verdicts: Vec<(String, Verdict)> = compare(&baseline, &now)
            .into_iter()
            .map(|c| (c.name, c.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("a", Verdict::Within),
                ("b", Verdict::Worse),
                ("c", Verdict::Better),
                ("fresh", Verdict::New),
                ("gone", Verdict::Missing),
            ]
            .map(|(n, v)| (n.to_owned(), v))
        );
        assert!(verdicts.iter().filter(|v| v.1.fails()).count() == 2);
    }

    #[test]
    fn a_noisy_ratio_is_allowed_twice_its_spread() {
        let baseline = Baseline {
            about: String::new(),
            tolerance: 0.25,
            ratios: [("noisy", 2.0), ("calm", 2.0)]
                .map(|(n, r)| (n.to_owned(), r))
                .into(),
            noise: [("noisy", 0.3), ("calm", 0.05)]
                .map(|(n, r)| (n.to_owned(), r))
                .into(),
        };
        assert_eq!(baseline.allowance("noisy"), 0.6);
        assert_eq!(baseline.allowance("calm"), 0.25);
        let now = [("noisy", 3.0), ("calm", 3.0)]
            .map(|(n, r)| (n.to_owned(), r))
            .into();
        let verdicts: Vec<Verdict> = compare(&baseline, &now)
            .into_iter()
            .map(|c| c.verdict)
            .collect();
        assert_eq!(verdicts, [Verdict::Worse, Verdict::Within]);
    }
}
