//! Running ninja over a long build: the full output into a log, a progress
//! line with an estimate about once a minute, failures shown.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

/// `ninja` over V8's targets, its full output in `log`, a progress line
/// (steps, elapsed, estimate) about once a minute on stderr. `launcher`
/// comes before `ninja` on the command line (`nice`, `chroot <root>`).
pub(super) fn ninja(
    launcher: &[OsString],
    out: &Path,
    jobs: u32,
    targets: &[&str],
    log_path: &Path,
) -> Result<()> {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut cmd = match launcher.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg("ninja");
            cmd
        }
        None => Command::new("ninja"),
    };
    cmd.arg("-C")
        .arg(out)
        .arg(format!("-j{jobs}"))
        .args(targets)
        .env("NINJA_STATUS", "[%f/%t] ")
        // torque and mksnapshot run during the build and are instrumented
        // like the rest (gyp uses one toolchain): no leak report from them.
        .env("ASAN_OPTIONS", "detect_leaks=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!(
        "xtask v8: running {cmd:?} (full output in {})",
        log_path.display()
    );
    let mut child = cmd.spawn().context("starting ninja")?;
    let stdout = child.stdout.take().expect("piped");
    let mut progress = Progress::new();
    // V8 compiles with hundreds of warnings (they stay in the log); what
    // follows a `FAILED:` or a message of ninja's own is shown.
    let mut showing = false;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        writeln!(log, "{line}")?;
        if let Some((done, total)) = parse_status(&line) {
            showing = false;
            progress.step(done, total);
            continue;
        }
        showing |= line.starts_with("FAILED:") || line.starts_with("ninja:");
        if showing {
            eprintln!("{line}");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "ninja failed ({status}); see {} — running the same command again resumes",
            log_path.display()
        );
    }
    Ok(())
}

/// `[done/total] ...` from ninja's status line.
fn parse_status(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix('[')?;
    let (counts, _) = rest.split_once(']')?;
    let (done, total) = counts.split_once('/')?;
    Some((done.parse().ok()?, total.parse().ok()?))
}

/// Steps done, time spent and an estimate from the recent pace: the
/// steps differ (a header copy takes milliseconds, a V8 translation unit
/// 10 s), so the pace since the start misleads for long.
struct Progress {
    started: Instant,
    last_print: Option<Instant>,
    /// (when, steps done) at each printed line of the last PACE_WINDOW.
    recent: VecDeque<(Instant, u64)>,
}

const PACE_WINDOW: Duration = Duration::from_secs(600);

impl Progress {
    fn new() -> Self {
        Progress {
            started: Instant::now(),
            last_print: None,
            recent: VecDeque::new(),
        }
    }

    fn step(&mut self, done: u64, total: u64) {
        let now = Instant::now();
        if self.recent.is_empty() {
            // A resumed build starts part way.
            self.recent
                .push_back((self.started, done.saturating_sub(1)));
        }
        let due = self
            .last_print
            .is_none_or(|t| now - t >= Duration::from_secs(60));
        if !due && done != total {
            return;
        }
        self.last_print = Some(now);
        while self.recent.len() > 1 && now - self.recent[0].0 > PACE_WINDOW {
            self.recent.pop_front();
        }
        let (since, done_then) = self.recent[0];
        self.recent.push_back((now, done));
        eprintln!(
            "xtask v8: {}",
            progress_line(
                done,
                total,
                self.started.elapsed(),
                (done - done_then, now - since)
            )
        );
    }
}

/// `pace`: steps done in a recent span of time.
fn progress_line(done: u64, total: u64, elapsed: Duration, pace: (u64, Duration)) -> String {
    let percent = done * 100 / total.max(1);
    let (steps, span) = pace;
    let estimate = if steps == 0 || done >= total {
        String::new()
    } else {
        let per_step = span.as_secs_f64() / steps as f64;
        let left = Duration::from_secs_f64(per_step * (total - done) as f64);
        format!(", about {} left", human(left))
    };
    format!(
        "{done}/{total} steps ({percent}%), {} this run{estimate}",
        human(elapsed)
    )
}

pub(super) fn human(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    if minutes >= 60 {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        format!("{} s", d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ninja_status_lines_and_nothing_else() {
        assert_eq!(
            parse_status("[12/1328] CXX obj/deps/v8/src/api/api.o"),
            Some((12, 1328))
        );
        assert_eq!(
            parse_status("../deps/v8/src/api/api.cc:1:2: error: x"),
            None
        );
        assert_eq!(parse_status("[warning] something"), None);
    }

    #[test]
    fn estimates_from_the_recent_pace() {
        // 100 steps in the last 10 minutes, 300 to go: 30 minutes, however
        // long the run has taken.
        let line = progress_line(
            700,
            1000,
            Duration::from_secs(3600),
            (100, Duration::from_secs(600)),
        );
        assert_eq!(
            line,
            "700/1000 steps (70%), 1 h 00 min this run, about 30 min left"
        );
        assert_eq!(
            progress_line(
                1000,
                1000,
                Duration::from_secs(4000),
                (5, Duration::from_secs(60))
            ),
            "1000/1000 steps (100%), 1 h 06 min this run"
        );
    }
}
