//! `cargo xtask v8 build <profile>`: V8 10.2.154.26 — the V8 of Debian's
//! libnode108, so the same API — built from Debian's nodejs 18 source package
//! with clang and sanitizer or coverage instrumentation, through Node's own
//! gyp + ninja route. Everything lives in a cache outside the repository
//! (`$V8CAGE_CACHE`, default `~/.cache/v8cage`): the sources, one build tree
//! per profile (ninja resumes an interrupted build) and the finished prefix
//! (`include/`, `lib/libv8.so`) that `V8CAGE_V8_DIR` and `core/build.rs` take.

use std::collections::BTreeMap;
use std::env;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::cmd::{apt_install, run};

/// The source package whose `deps/v8` is V8 10.2.154.26 (the security
/// update `~deb12u3` has no `.dsc` on the mirror; its V8 is the same).
const NODE_SOURCE: &str = "nodejs=18.20.4+dfsg-1~deb12u2";
const NODE_DSC: &str = "nodejs_18.20.4+dfsg-1~deb12u2.dsc";
/// Where that version is: bookworm itself.
const DEB_SRC_LINES: &str = "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main\n";
const CLANG: &str = "clang-19";
const CLANGXX: &str = "clang++-19";
/// What the build needs besides clang: ninja, and the headers of the
/// libraries Node's configure insists on finding when told to use the
/// system's (`--shared-*`), as Debian's build does.
const BUILD_PACKAGES: &[&str] = &[
    "ninja-build",
    "clang-19",
    "libuv1-dev",
    "libc-ares-dev",
    "libnghttp2-dev",
    "libbrotli-dev",
    "libssl-dev",
    "zlib1g-dev",
    "libicu-dev",
    "dpkg-dev",
];
/// The static libraries libnode links for V8 (its `libnode.ninja`), built by
/// these ninja targets; together they are `libv8.so`.
const V8_TARGETS: &[&str] = &[
    "v8_snapshot",
    "v8_libplatform",
    "v8_initializers",
    "v8_zlib",
];
const V8_ARCHIVES: &[&str] = &[
    "libv8_base_without_compiler.a",
    "libv8_compiler.a",
    "libv8_initializers.a",
    "libv8_libbase.a",
    "libv8_libplatform.a",
    "libv8_snapshot.a",
    "libv8_zlib.a",
];
/// Written into a prefix last: a prefix without it is not finished.
const COMPLETE_MARK: &str = "v8cage-build.txt";

/// A way to build V8.
pub struct Profile {
    pub name: &'static str,
    what: &'static str,
    /// C and C++ flags of every translation unit (after Node's own -O3, so
    /// an -O here wins).
    cflags: &'static str,
    ldflags: &'static str,
    /// `--with-intl=...`: ICU from the system, or none where the system's
    /// uninstrumented ICU would be wrong (MSan).
    intl: &'static str,
}

pub const PROFILES: &[Profile] = &[
    Profile {
        name: "asan-cov",
        what:
            "ASan + libFuzzer coverage counters (-fsanitize=fuzzer-no-link): fuzzers see V8's edges",
        // -O1 is what OSS-Fuzz builds with: sanitizer builds spend their time
        // in the checks, and -O1 compiles faster than Node's -O3.
        cflags: "-fsanitize=address,fuzzer-no-link -O1 -gline-tables-only",
        ldflags: "-fsanitize=address",
        intl: "system-icu",
    },
    Profile {
        name: "release",
        what: "plain, as Debian builds it (a reproducible self-built V8)",
        cflags: "-gline-tables-only",
        ldflags: "",
        intl: "system-icu",
    },
];

pub fn profile(name: &str) -> Result<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name).with_context(|| {
        let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
        format!("unknown V8 profile `{name}`; one of: {}", names.join(", "))
    })
}

/// `$V8CAGE_CACHE`, or `~/.cache/v8cage`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("V8CAGE_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let home = env::var_os("HOME").context("neither V8CAGE_CACHE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/v8cage"))
}

fn prefix_of(cache: &Path, profile: &Profile) -> PathBuf {
    cache.join("prefix").join(profile.name)
}

pub fn build(profile_name: &str, jobs: u32) -> Result<()> {
    let profile = profile(profile_name)?;
    let cache = cache_dir()?;
    eprintln!(
        "xtask v8: building profile `{}` ({}) in {}",
        profile.name,
        profile.what,
        cache.display()
    );
    ensure_build_packages()?;
    let dsc = fetch_sources(&cache)?;
    let tree = extract(&cache, profile, &dsc)?;
    configure(&tree, profile)?;
    let started = Instant::now();
    ninja(
        &tree.join("out/Release"),
        jobs,
        &cache.join(format!("build-{}.log", profile.name)),
    )?;
    let prefix = install(&tree, profile, &prefix_of(&cache, profile))?;
    eprintln!(
        "xtask v8: done in {}; use it with\n  V8CAGE_V8_DIR={}",
        human(started.elapsed()),
        prefix.display()
    );
    Ok(())
}

fn ensure_build_packages() -> Result<()> {
    let missing: Vec<&str> = BUILD_PACKAGES
        .iter()
        .copied()
        .filter(|p| !crate::setup::package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing, "building V8 needs them")
}

/// An apt configuration of our own (a `deb-src` list and package lists in
/// the cache), so the machine's sources stay as they are.
fn private_apt(cache: &Path) -> Result<Vec<String>> {
    let apt = cache.join("apt");
    std::fs::create_dir_all(apt.join("lists/partial"))?;
    let list = apt.join("sources.list");
    std::fs::write(&list, DEB_SRC_LINES)?;
    Ok(vec![
        format!("-oDir::Etc::SourceList={}", list.display()),
        "-oDir::Etc::SourceParts=/dev/null".into(),
        format!("-oDir::State::Lists={}", apt.join("lists").display()),
        // Our own lists need no lock on the system's.
        "-oDebug::NoLocking=1".into(),
    ])
}

/// The source package (orig tarballs, Debian's patches, `.dsc`), fetched
/// once; apt checks them against the signed index.
fn fetch_sources(cache: &Path) -> Result<PathBuf> {
    let sources = cache.join("sources");
    let dsc = sources.join(NODE_DSC);
    if dsc.is_file() {
        return Ok(dsc);
    }
    let partial = cache.join("sources.partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    let apt = private_apt(cache)?;
    run(Command::new("apt-get").args(&apt).arg("update"))?;
    run(Command::new("apt-get")
        .args(&apt)
        .args(["source", "--download-only", NODE_SOURCE])
        .current_dir(&partial))?;
    if !partial.join(NODE_DSC).is_file() {
        bail!("apt-get source left no {NODE_DSC} in {}", partial.display());
    }
    std::fs::rename(&partial, &sources)?;
    Ok(dsc)
}

/// The unpacked, patched source tree of a profile (one per profile: Node's
/// configure writes its output inside the tree).
fn extract(cache: &Path, profile: &Profile, dsc: &Path) -> Result<PathBuf> {
    let tree = cache.join("build").join(profile.name);
    if tree.join("deps/v8/include/v8.h").is_file() {
        return Ok(tree);
    }
    let partial = cache
        .join("build")
        .join(format!("{}.partial", profile.name));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(cache.join("build"))?;
    run(Command::new("dpkg-source").arg("-x").arg(dsc).arg(&partial))?;
    std::fs::rename(&partial, &tree)?;
    Ok(tree)
}

/// Node's configure with Debian's options, only when its inputs changed:
/// a rerun would make ninja rebuild everything.
fn configure(tree: &Path, profile: &Profile) -> Result<()> {
    let env: BTreeMap<&str, &str> = [
        ("CC", CLANG),
        ("CXX", CLANGXX),
        ("CFLAGS", profile.cflags),
        ("CXXFLAGS", profile.cflags),
        ("LDFLAGS", profile.ldflags),
    ]
    .into();
    let intl = format!("--with-intl={}", profile.intl);
    let args = [
        "configure.py",
        "--ninja",
        "--shared",
        "--shared-zlib",
        "--shared-cares",
        "--shared-nghttp2",
        "--shared-brotli",
        "--shared-openssl",
        "--shared-libuv",
        &intl,
        "--without-npm",
        "--without-corepack",
    ];
    let stamp = tree.join("v8cage-configure.txt");
    let wanted = format!("{env:?} {args:?}\n");
    if tree.join("out/Release/build.ninja").is_file()
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted)
    {
        return Ok(());
    }
    let mut cmd = Command::new("python3");
    cmd.args(args).current_dir(tree);
    // CC_host must equal CC (unset, it does): with a separate host
    // toolchain gyp writes two rules for torque's outputs ("multiple rules
    // generate gen/torque-generated/bit-fields.h").
    cmd.env_remove("CC_host").env_remove("CXX_host");
    for (key, value) in &env {
        cmd.env(key, value);
    }
    run(&mut cmd)?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

/// `ninja` over V8's targets, its full output in `log`, a progress line
/// (steps, elapsed, estimate) about once a minute on stderr.
fn ninja(out: &Path, jobs: u32, log_path: &Path) -> Result<()> {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut cmd = Command::new("ninja");
    cmd.arg("-C")
        .arg(out)
        .arg(format!("-j{jobs}"))
        .args(V8_TARGETS)
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

/// Steps done, elapsed time and an estimate from this run's pace (a resumed
/// build starts part way).
struct Progress {
    started: Instant,
    first_done: Option<u64>,
    last_print: Option<Instant>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            started: Instant::now(),
            first_done: None,
            last_print: None,
        }
    }

    fn step(&mut self, done: u64, total: u64) {
        let first = *self.first_done.get_or_insert(done.saturating_sub(1));
        let due = self
            .last_print
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if !due && done != total {
            return;
        }
        self.last_print = Some(Instant::now());
        let elapsed = self.started.elapsed();
        eprintln!(
            "xtask v8: {}",
            progress_line(done, total, done - first, elapsed)
        );
    }
}

fn progress_line(done: u64, total: u64, done_this_run: u64, elapsed: Duration) -> String {
    let percent = done * 100 / total.max(1);
    let estimate = if done_this_run == 0 || done >= total {
        String::new()
    } else {
        let per_step = elapsed.as_secs_f64() / done_this_run as f64;
        let left = Duration::from_secs_f64(per_step * (total - done) as f64);
        format!(", about {} left", human(left))
    };
    format!(
        "{done}/{total} steps ({percent}%), {} this run{estimate}",
        human(elapsed)
    )
}

fn human(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    if minutes >= 60 {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        format!("{} s", d.as_secs())
    }
}

/// The prefix: V8's headers and one `libv8.so` holding V8's archives whole,
/// written beside the prefix and renamed into place, marked complete last.
fn install(tree: &Path, profile: &Profile, prefix: &Path) -> Result<PathBuf> {
    let staging = prefix.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("lib"))?;
    run(Command::new("cp")
        .arg("-r")
        .arg(tree.join("deps/v8/include"))
        .arg(staging.join("include")))?;
    let archives = tree.join("out/Release/obj/tools/v8_gypfiles");
    let mut link = Command::new(CLANGXX);
    link.args(["-shared", "-Wl,-soname,libv8.so", "-o"])
        .arg(staging.join("lib/libv8.so"))
        .arg("-Wl,--whole-archive");
    for archive in V8_ARCHIVES {
        link.arg(archives.join(archive));
    }
    link.arg("-Wl,--no-whole-archive")
        .args(profile.ldflags.split_whitespace());
    if profile.intl == "system-icu" {
        link.args(["-licui18n", "-licuuc"]);
    }
    link.args(["-lz", "-pthread", "-ldl", "-lm"]);
    run(&mut link)?;
    std::fs::write(
        staging.join(COMPLETE_MARK),
        format!(
            "V8 10.2.154.26 from Debian's {NODE_SOURCE}, profile {}: {}\nflags: {}\n",
            profile.name, profile.what, profile.cflags
        ),
    )?;
    let _ = std::fs::remove_dir_all(prefix);
    std::fs::rename(&staging, prefix)?;
    Ok(prefix.to_path_buf())
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
    fn estimates_from_this_runs_pace() {
        // 100 steps in 10 minutes this run, 300 to go: 30 minutes.
        let line = progress_line(700, 1000, 100, Duration::from_secs(600));
        assert_eq!(
            line,
            "700/1000 steps (70%), 10 min this run, about 30 min left"
        );
        assert_eq!(
            progress_line(1000, 1000, 5, Duration::from_secs(4000)),
            "1000/1000 steps (100%), 1 h 06 min this run"
        );
    }

    #[test]
    fn every_profile_is_found_by_name() {
        for p in PROFILES {
            assert_eq!(profile(p.name).unwrap().name, p.name);
        }
        assert!(profile("nope").is_err());
    }
}
