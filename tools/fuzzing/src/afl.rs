//! AFL++ campaigns (cargo-afl, persistent mode): one machine with several
//! instances (`-M` plus `-S`), and several machines syncing through a shared
//! directory with AFL++'s foreign sync (`-F`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use crate::campaign::{self, Series};
use crate::fuzz::{check_target, dictionary};
use devtools::cmd::cargo_command;
use devtools::toolchain::ensure_installed;

/// Where a campaign runs and whom it shares with.
pub struct Campaign {
    pub target: String,
    pub seconds: u64,
    pub jobs: u32,
    /// Output directory; default `fuzz/afl-out/<target>`.
    pub out: Option<PathBuf>,
    pub sync: Option<SharedSync>,
}

/// Several machines (or output directories) exchanging inputs through one
/// shared directory: each exports its main instance's queue to
/// `<dir>/<machine>/`, and its main instance imports every peer's folder
/// with `-F`.
pub struct SharedSync {
    pub dir: PathBuf,
    pub machine: String,
    /// Peers' machine names; empty = the folders already in `dir`.
    pub peers: Vec<String>,
    /// Seconds between exports, and AFL++'s sync period (`AFL_SYNC_TIME`,
    /// whole minutes, at least 1; a main instance syncs twice per period).
    pub every_seconds: u64,
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

fn build(root: &Path, target: &str) -> Result<PathBuf> {
    ensure_afl()?;
    // AFL's build has no ASan, so the cache's asan-cov V8 (libFuzzer's)
    // cannot link into it.
    match std::env::var_os("V8CAGE_V8_DIR") {
        Some(dir) => eprintln!("xtask afl: V8 from V8CAGE_V8_DIR={}", dir.to_string_lossy()),
        None => eprintln!(
            "xtask afl: V8 = Debian's libnode, not instrumented (only v8cage's edges; V8's own are libFuzzer's, with the asan-cov build)"
        ),
    }
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
    devtools::cmd::run(&mut build)?;
    Ok(target_dir.join("release").join(target))
}

/// `cargo xtask afl <target>`: runs the campaign, then prints a summary and
/// writes `<out>/coverage.svg`.
pub fn run(root: &Path, campaign: &Campaign) -> Result<()> {
    let target = campaign.target.as_str();
    check_target(root, target)?;
    let binary = build(root, target)?;
    let out = campaign
        .out
        .clone()
        .unwrap_or_else(|| root.join("fuzz/afl-out").join(target));
    std::fs::create_dir_all(&out)?;
    let seeds = root.join("corpus").join(target);
    let main_name = campaign
        .sync
        .as_ref()
        .map_or("main".to_string(), |s| s.machine.clone());
    let peers = match &campaign.sync {
        Some(sync) => peer_dirs(sync)?,
        None => Vec::new(),
    };

    let mut instances: Vec<Child> = Vec::new();
    for job in 0..campaign.jobs.max(1) {
        let mut cmd = cargo_command();
        cmd.args(["afl", "fuzz"])
            .arg("-i")
            .arg(&seeds)
            .arg("-o")
            .arg(&out)
            .arg("-V")
            .arg(campaign.seconds.to_string())
            // V8 reserves far more address space than AFL's default limit;
            // our own timeout ends every input well within a second.
            .args(["-m", "none", "-t", "2000"]);
        if job == 0 {
            cmd.arg("-M").arg(&main_name);
            for peer in &peers {
                cmd.arg("-F").arg(peer);
            }
        } else {
            cmd.arg("-S").arg(format!("{main_name}-s{job}"));
        }
        if let Some(dict) = dictionary(root, target) {
            cmd.arg("-x").arg(dict);
        }
        cmd.arg("--").arg(&binary);
        cmd.env("AFL_NO_UI", "1")
            .env(
                "AFL_FUZZER_STATS_UPDATE_INTERVAL",
                SAMPLE_SECONDS.to_string(),
            )
            .env("AFL_SKIP_CPUFREQ", "1")
            .env("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1")
            .env("AFL_AUTORESUME", "1");
        if let Some(sync) = &campaign.sync {
            let minutes = sync.every_seconds.div_ceil(60).max(1);
            // A last import at the end, so a short run still takes the
            // peers' inputs in.
            cmd.env("AFL_SYNC_TIME", minutes.to_string())
                .env("AFL_FINAL_SYNC", "1");
        }
        if job > 0 {
            cmd.stdout(Stdio::null());
        }
        eprintln!("xtask: running {cmd:?}");
        instances.push(cmd.spawn().context("starting afl-fuzz")?);
    }

    // While the instances run: sample their stats for the plot (AFL++'s
    // own plot_data starts only after a minute) and export for the peers.
    let export = campaign.sync.as_ref().map(|sync| {
        (
            out.join(&main_name).join("queue"),
            sync.dir.join(&sync.machine),
            sync.every_seconds,
        )
    });
    let (done, ticks) = mpsc::channel::<()>();
    let (failed, samples) = std::thread::scope(|scope| -> Result<_> {
        let (out, export) = (&out, &export);
        let monitor = scope.spawn(move || -> Result<BTreeMap<String, Vec<StatsSample>>> {
            let mut samples = BTreeMap::new();
            let mut exported = 0;
            let mut tick = 0u64;
            // Until the instances end (the sender drops).
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                ticks.recv_timeout(Duration::from_secs(SAMPLE_SECONDS))
            {
                tick += SAMPLE_SECONDS;
                sample_stats(out, &mut samples)?;
                if let Some((queue, dir, every)) = export {
                    if tick % every < SAMPLE_SECONDS {
                        exported += export_queue(queue, dir)?;
                    }
                }
            }
            sample_stats(out, &mut samples)?;
            if let Some((queue, dir, _)) = export {
                exported += export_queue(queue, dir)?;
                eprintln!("xtask: exported {exported} inputs to {}", dir.display());
            }
            Ok(samples)
        });
        let failed = wait_all(instances);
        drop(done);
        let samples = monitor.join().expect("the monitor does not panic")?;
        Ok((failed?, samples))
    })?;
    summary(&out, target, &samples)?;
    if failed {
        bail!("afl-fuzz failed (see its output above)");
    }
    Ok(())
}

/// How often the instances' stats are sampled (AFL++ is told to write them
/// this often).
const SAMPLE_SECONDS: u64 = 5;

/// One instance's `fuzzer_stats` at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
struct StatsSample {
    seconds: f64,
    execs: f64,
    execs_per_sec: f64,
    corpus: f64,
    edges: f64,
}

/// Appends each instance's current `fuzzer_stats` (once per AFL++ update).
fn sample_stats(out: &Path, samples: &mut BTreeMap<String, Vec<StatsSample>>) -> Result<()> {
    for (name, stats) in instances(out)? {
        let number = |key: &str| stat(&stats, key);
        let (seconds, execs) = (number("run_time"), number("execs_done"));
        let series = samples.entry(name).or_default();
        // The rate since the previous sample (fuzzer_stats' execs_per_sec
        // is the average since start); nothing before the first second.
        let (since, before) = series.last().map_or((0.0, 0.0), |l| (l.seconds, l.execs));
        if seconds >= 1.0 && seconds > since {
            series.push(StatsSample {
                seconds,
                execs,
                execs_per_sec: (execs - before) / (seconds - since),
                corpus: number("corpus_count"),
                edges: number("edges_found"),
            });
        }
    }
    Ok(())
}

fn stat(stats: &BTreeMap<String, String>, key: &str) -> f64 {
    stats
        .get(key)
        .and_then(|v| v.trim_end_matches('%').parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn wait_all(instances: Vec<Child>) -> Result<bool> {
    let mut failed = false;
    for mut child in instances {
        failed |= !child.wait()?.success();
    }
    Ok(failed)
}

/// The `-F` folders of a machine's peers (created when missing: AFL++ only
/// warns about a missing one, and a peer that starts later fills it).
fn peer_dirs(sync: &SharedSync) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(sync.dir.join(&sync.machine))?;
    let mut names = sync.peers.clone();
    if names.is_empty() {
        for entry in std::fs::read_dir(&sync.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names.retain(|name| *name != sync.machine);
    names.sort();
    names.dedup();
    let dirs: Vec<PathBuf> = names.iter().map(|name| sync.dir.join(name)).collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir)?;
    }
    if dirs.is_empty() {
        eprintln!(
            "xtask: no peers in {} yet: this machine exports only (name peers with --peers)",
            sync.dir.display()
        );
    }
    Ok(dirs)
}

/// Copies the queue's inputs not yet in `export`; each appears whole
/// (written under a temporary name, then renamed), so a peer never reads a
/// partial file.
fn export_queue(queue: &Path, export: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(queue) else {
        return Ok(0); // the instance has not written its queue yet
    };
    std::fs::create_dir_all(export)?;
    let mut copied = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if !entry.file_type()?.is_file() || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let destination = export.join(&name);
        if destination.exists() {
            continue;
        }
        let partial = export.join(format!(".{}.partial", name.to_string_lossy()));
        std::fs::copy(entry.path(), &partial)?;
        std::fs::rename(&partial, &destination)?;
        copied += 1;
    }
    Ok(copied)
}

/// `fuzzer_stats` of one instance, by key.
fn read_stats(path: &Path) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

/// The instances in `out` (folders with a `fuzzer_stats`), by name.
fn instances(out: &Path) -> Result<Vec<(String, BTreeMap<String, String>)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        if let Some(stats) = read_stats(&path.join("fuzzer_stats")) {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            found.push((name, stats));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// Per-instance and total figures, and `<out>/coverage.svg` (data in
/// `coverage.csv`) from the stats sampled during the run.
fn summary(out: &Path, target: &str, samples: &BTreeMap<String, Vec<StatsSample>>) -> Result<()> {
    let instances = instances(out)?;
    println!(
        "AFL++ summary for {target} in {} ({} instances)",
        out.display(),
        instances.len()
    );
    println!(
        "  {:<16} {:>9} {:>11} {:>7} {:>8} {:>6} {:>7} {:>6}",
        "instance", "execs/s", "execs", "corpus", "imported", "edges", "crashes", "hangs"
    );
    let mut totals = [0.0; 3];
    let mut findings = 0.0;
    for (name, stats) in &instances {
        let row = [
            stat(stats, "execs_per_sec"),
            stat(stats, "execs_done"),
            stat(stats, "corpus_count"),
        ];
        for (total, value) in totals.iter_mut().zip(row) {
            *total += value;
        }
        findings += stat(stats, "saved_crashes") + stat(stats, "saved_hangs");
        println!(
            "  {:<16} {:>9.0} {:>11.0} {:>7.0} {:>8.0} {:>6.0} {:>7.0} {:>6.0}",
            name,
            row[0],
            row[1],
            row[2],
            stat(stats, "corpus_imported"),
            stat(stats, "edges_found"),
            stat(stats, "saved_crashes"),
            stat(stats, "saved_hangs"),
        );
    }
    println!(
        "  {:<16} {:>9.0} {:>11.0} {:>7.0}",
        "total", totals[0], totals[1], totals[2]
    );

    let mut csv = String::from("instance,seconds,execs,execs_per_sec,corpus,edges\n");
    let mut panels: Vec<(&str, Vec<Series>)> = vec![
        ("edges found", vec![]),
        ("corpus", vec![]),
        ("execs/s", vec![]),
    ];
    for (name, series) in samples {
        for s in series {
            csv.push_str(&format!(
                "{name},{},{},{},{},{}\n",
                s.seconds, s.execs, s.execs_per_sec, s.corpus, s.edges
            ));
        }
        let values: [fn(&StatsSample) -> f64; 3] = [|s| s.edges, |s| s.corpus, |s| s.execs_per_sec];
        for (panel, value) in panels.iter_mut().zip(values) {
            panel.1.push(Series {
                name: name.clone(),
                points: series.iter().map(|s| (s.seconds, value(s))).collect(),
            });
        }
    }
    std::fs::write(out.join("coverage.csv"), csv)?;
    let svg = out.join("coverage.svg");
    campaign::plot_svg(&svg, &format!("AFL++ {target}"), &panels)?;
    println!("  plot             {}", svg.display());
    if findings > 0.0 {
        println!(
            "  findings in {}/*/crashes and */hangs; replay with cargo xtask repro {target} <file>",
            out.display()
        );
    }
    Ok(())
}

/// `cargo xtask afl-sync-check`: machine "alpha" fuzzes for `seconds` and
/// exports its queue to the shared folder; then machine "beta", with its own
/// output directory, fuzzes for half as long importing alpha's folder with
/// `-F`. Passes when beta imported inputs (AFL++ names them `sync:alpha`).
pub fn sync_check(root: &Path, target: &str, seconds: u64) -> Result<()> {
    let base = root.join("target/afl-sync");
    let _ = std::fs::remove_dir_all(&base);
    let shared = base.join("shared");
    let machine = |name: &str, peer: &str, seconds: u64| Campaign {
        target: target.to_string(),
        seconds,
        jobs: 1,
        out: Some(base.join(format!("{name}-out"))),
        sync: Some(SharedSync {
            dir: shared.clone(),
            machine: name.to_string(),
            peers: vec![peer.to_string()],
            every_seconds: 10,
        }),
    };
    run(root, &machine("alpha", "beta", seconds))?;
    let exported = std::fs::read_dir(shared.join("alpha"))?.count();
    if exported == 0 {
        bail!(
            "alpha exported nothing to {}",
            shared.join("alpha").display()
        );
    }
    run(root, &machine("beta", "alpha", seconds.div_ceil(2)))?;

    let beta = base.join("beta-out/beta");
    let imported: Vec<String> = std::fs::read_dir(beta.join("queue"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("sync:alpha"))
        .collect();
    let stats = read_stats(&beta.join("fuzzer_stats")).unwrap_or_default();
    let counted = stats.get("corpus_imported").map_or("?", String::as_str);
    println!(
        "AFL++ sync check: alpha exported {exported} inputs; beta imported {} (fuzzer_stats corpus_imported: {counted}), e.g. {}",
        imported.len(),
        imported.first().map_or("-", String::as_str)
    );
    if imported.is_empty() {
        bail!(
            "beta imported nothing from alpha through {}",
            shared.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("v8cage-afl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn export_copies_each_new_queue_entry_once_and_whole() {
        let dir = scratch("export");
        let (queue, export) = (dir.join("queue"), dir.join("shared/alpha"));
        assert_eq!(export_queue(&queue, &export).unwrap(), 0, "no queue yet");
        std::fs::create_dir_all(queue.join(".state")).unwrap();
        std::fs::write(queue.join("id:000000,time:0,orig:a"), "1+1").unwrap();
        std::fs::write(queue.join(".cur_input"), "x").unwrap();
        assert_eq!(export_queue(&queue, &export).unwrap(), 1);
        std::fs::write(queue.join("id:000001,src:000000,+cov"), "2+2").unwrap();
        assert_eq!(
            export_queue(&queue, &export).unwrap(),
            1,
            "only the new one"
        );
        let mut names: Vec<String> = std::fs::read_dir(&export)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["id:000000,time:0,orig:a", "id:000001,src:000000,+cov"]
        );
        assert_eq!(
            std::fs::read_to_string(export.join("id:000001,src:000000,+cov")).unwrap(),
            "2+2"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn peers_default_to_the_other_folders_of_the_shared_directory() {
        let dir = scratch("peers");
        std::fs::create_dir_all(dir.join("beta")).unwrap();
        std::fs::create_dir_all(dir.join("gamma")).unwrap();
        let sync = |peers: Vec<String>| SharedSync {
            dir: dir.clone(),
            machine: "alpha".into(),
            peers,
            every_seconds: 60,
        };
        assert_eq!(
            peer_dirs(&sync(vec![])).unwrap(),
            [dir.join("beta"), dir.join("gamma")]
        );
        assert!(dir.join("alpha").is_dir(), "its own export folder exists");
        let named = peer_dirs(&sync(vec!["delta".into(), "alpha".into()])).unwrap();
        assert_eq!(named, [dir.join("delta")]);
        assert!(
            dir.join("delta").is_dir(),
            "a named peer's folder is created"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
