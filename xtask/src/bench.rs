//! `cargo xtask bench`: the core criterion bench (`core/benches/core.rs`),
//! then every measurement of that run in one table with its ratio to the
//! raw floor (`1+1` compiled and run straight in the shim) of the same run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde_json::Value as Json;

use crate::cmd::{cargo_command, run};

/// The floor every ratio is taken to.
const FLOOR: &str = "raw_floor_1+1";

pub fn run_core(root: &Path, bench_args: &[String]) -> Result<()> {
    let results = criterion_dir(root);
    // Only this run's figures: criterion keeps those of benches not run.
    if results.exists() {
        std::fs::remove_dir_all(&results)
            .with_context(|| format!("clearing {}", results.display()))?;
    }
    run(cargo_command()
        .current_dir(root)
        .args(["bench", "-p", "v8cage", "--bench", "core", "--"])
        .args(bench_args))?;
    let measured = read_means(&results)?;
    if measured.is_empty() {
        bail!("criterion wrote no figures (a filter that matches nothing?)");
    }
    // A filter may leave the floor out: then no ratios.
    let floor = measured.iter().find(|(id, _)| id == FLOOR).map(|m| m.1);
    println!(
        "\n{:<44} {:>12} {:>10}",
        "benchmark (one run)", "mean", "x floor"
    );
    for (id, mean_ns) in &measured {
        let ratio = floor.map_or("-".to_owned(), |floor| format!("{:.2}", mean_ns / floor));
        println!("{id:<44} {:>12} {ratio:>10}", human(*mean_ns));
    }
    Ok(())
}

fn criterion_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
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
