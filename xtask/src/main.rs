//! `cargo xtask <command>`: the one entry point for setting up, testing and
//! running v8cage.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

mod bench;
mod python;
mod sanitize;
mod test;

use devtools::cmd::cargo_command;
use fuzzing::{afl, cflite, fuzz, fuzzilli};
use packaging::{cross, mini_racer, wheel};
use v8build::debian::setup;

#[derive(Parser)]
#[command(about = "v8cage developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make V8 available: V8CAGE_V8_DIR, an installed libnode-dev, or Debian's
    /// libnode108 + libnode-dev unpacked into .deps/v8/. Idempotent.
    Setup,
    /// The everyday check (minutes): setup, formatting (rustfmt,
    /// clang-format, ruff), clippy -D warnings, mypy, every Rust test
    /// (including the replay of corpus/) and the Python binding's pytest
    /// suite. With --full, also the long proofs CI runs (.ci/run).
    Test {
        /// Also the long proofs: atheris (regressions + 10 s), a 20 s
        /// libFuzzer+ASan smoke run of each fuzz target, the ClusterFuzzLite
        /// build check, the AFL++ sync check and the sanitizer proofs (asan,
        /// ubsan, tsan, quick valgrind, msan's prerequisite check). Needs
        /// nightly; installs cargo-fuzz, cargo-afl, rust-src and clang.
        #[arg(long)]
        full: bool,
    },
    /// Run one sanitizer job: sanitizer-builds/<job>.sh (asan, tsan, ubsan,
    /// valgrind, msan). Exit 0 clean, 1 a report or failed test, 2 could
    /// not run, 3 prerequisites missing (msan).
    Sanitize {
        job: String,
        /// Build with the planted-bugs feature and run only the planted bugs
        /// of this job's classes: every one must be reported (exit 1).
        #[arg(long)]
        planted: bool,
        /// The V8 to run against: `current` takes the cache's current V8.
        #[arg(long, value_enum, default_value = "default")]
        v8: sanitize::JobV8,
    },
    /// Build the Python extension into target/python-venv (maturin develop)
    /// and run pytest over python/tests; extra pytest flags after `--`.
    Pytest {
        #[arg(last = true)]
        pytest_args: Vec<String>,
    },
    /// Build the Python sdist and a manylinux wheel with V8 bundled, install
    /// the wheel into a fresh venv and smoke-test it; prints tag and size.
    Wheel {
        /// The manylinux tag to claim. Down to 2_35 the wheel bundles
        /// Debian 12's V8 10.2 (its ICU needs GLIBCXX_3.4.30); 2_31 to 2_34
        /// the current V8 (`cargo xtask v8 build release`); 2_28 to 2_30
        /// our own V8 10.2 built for glibc 2.28 (`cargo xtask v8 build
        /// manylinux`). Own-V8 wheels are also tested in a Debian 11
        /// userland (root).
        #[arg(long, default_value = wheel::MANYLINUX)]
        manylinux: String,
        /// The machine: x86_64 (this one; the wheel is smoke-tested in a
        /// fresh venv) or aarch64 (cross-built, then tested with the whole
        /// Python suite in a Debian arm64 userland under qemu-user; root).
        #[arg(long, default_value = "x86_64")]
        target: String,
    },
    /// mini-racer 0.14.1's own test suite against a v8cage wheel, with
    /// `py_mini_racer` aliased to v8cage; the tests come from the
    /// PyMiniRacer checkout in $MINI_RACER_DIR (skipped, visibly, without).
    MiniRacerSuite {
        /// The wheel to test; default: the x86_64 one `cargo xtask wheel`
        /// built (the current V8's manylinux_2_31 one first).
        #[arg(long)]
        wheel: Option<PathBuf>,
    },
    /// Benchmark the core (criterion, release build) and print every
    /// figure of the run with its ratio to the raw floor; criterion flags
    /// after `--` (e.g. `-- in_process` to filter).
    Bench {
        /// The performance gate: the core and the Python bench, their
        /// ratios against bench/baseline.json; fails when one got worse
        /// by more than its tolerance.
        #[arg(long, conflicts_with = "update")]
        check: bool,
        /// Like --check, but writes the ratios measured as the new baseline.
        #[arg(long)]
        update: bool,
        #[arg(last = true)]
        bench_args: Vec<String>,
    },
    /// Benchmark the Python binding against mini-racer (release build); flags
    /// for python/bench/bench.py after `--` (e.g. `-- --quick`).
    PyBench {
        #[arg(last = true)]
        bench_args: Vec<String>,
    },
    /// Run the Python binding's atheris target (python/fuzz/) for a while.
    PyFuzz {
        /// Seconds to run.
        #[arg(long, default_value_t = 60)]
        time: u64,
    },
    /// Prove each job: it passes on the code as it is and fails, naming
    /// each class, on the planted bugs. Default: every job.
    SanitizeProve {
        jobs: Vec<String>,
        /// valgrind's and msan's clean runs cover only the input, threads
        /// and timeout tests (as in `cargo xtask test --full`).
        #[arg(long)]
        quick: bool,
        /// The V8 to run against: `current` takes the cache's current V8.
        #[arg(long, value_enum, default_value = "default")]
        v8: sanitize::JobV8,
    },
    /// Evaluate a JS file (or `-` for stdin) and print the result as JSON.
    Run {
        /// A .js file or `-`.
        file: String,
        /// e.g. 100ms, 2s
        #[arg(long)]
        timeout: Option<String>,
        /// e.g. 64M
        #[arg(long)]
        heap_limit: Option<String>,
        /// Print the Rust Value instead of JSON.
        #[arg(long)]
        debug: bool,
        /// `in-process` (default) or `process` (a sandboxed worker).
        #[arg(long)]
        isolation: Option<String>,
    },
    /// Fuzz a target with libFuzzer + ASan (cargo-fuzz, nightly), seeded
    /// from corpus/<target>/; new inputs go to fuzz/corpus/<target>/,
    /// findings to fuzz/artifacts/<target>/.
    Fuzz {
        /// A target of fuzz/fuzz_targets/ (eval, eval_gen, jit_diff, quickjs_diff, roundtrip, json, api_ops, ...).
        target: String,
        /// Seconds to run.
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// Parallel fuzzing processes (libFuzzer -fork).
        #[arg(long, default_value_t = 1)]
        jobs: u32,
        /// Afterwards, merge inputs that add coverage into corpus/<target>/.
        #[arg(long)]
        merge: bool,
        /// Extra libFuzzer flags, after `--`.
        #[arg(last = true)]
        libfuzzer_args: Vec<String>,
    },
    /// Run each fuzz target briefly under libFuzzer + ASan (part of `test`).
    FuzzSmoke {
        /// Seconds per target.
        #[arg(long, default_value_t = 20)]
        time: u64,
    },
    /// Fuzz a target with AFL++ (cargo-afl, persistent mode), seeded from
    /// corpus/<target>/, output in fuzz/afl-out/<target>/; prints a summary
    /// and writes <out>/coverage.svg. With --sync-dir, one machine of a
    /// campaign across several (README: "Fuzzing at scale").
    Afl {
        target: String,
        /// Seconds to run.
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// AFL++ instances: one -M main, the rest -S secondaries.
        #[arg(long, default_value_t = 1)]
        jobs: u32,
        /// Output directory (default fuzz/afl-out/<target>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A directory all machines share (NFS, sshfs, or rsync'd): this
        /// machine exports its main queue to <dir>/<machine>/ and imports the
        /// peers' folders with AFL++'s -F.
        #[arg(long)]
        sync_dir: Option<PathBuf>,
        /// This machine's name in the shared directory (default: host name).
        #[arg(long, requires = "sync_dir")]
        machine: Option<String>,
        /// Peer machine names, comma-separated (default: the folders
        /// already in the shared directory).
        #[arg(long, requires = "sync_dir", value_delimiter = ',')]
        peers: Vec<String>,
        /// Seconds between exports (AFL++ imports every AFL_SYNC_TIME
        /// minutes, rounded up from this).
        #[arg(long, default_value_t = 60, requires = "sync_dir")]
        sync_every: u64,
    },
    /// The tested example of a campaign across machines: two AFL++ main
    /// instances with separate output directories under target/afl-sync/,
    /// syncing through target/afl-sync/shared/; fails unless the second
    /// imported inputs from the first (part of `test`).
    AflSyncCheck {
        #[arg(default_value = "eval")]
        target: String,
        /// Seconds the first machine runs (the second runs half as long).
        #[arg(long, default_value_t = 30)]
        time: u64,
    },
    /// Run .clusterfuzzlite/build.sh as ClusterFuzzLite/OSS-Fuzz would
    /// (SRC, OUT, WORK and the builder's compiler flags set; no Docker), then
    /// check $OUT as the runner will (part of `test`).
    CfliteBuild,
    /// Replay one input through a target: print the decoded input (source,
    /// generated program, value, op list) and the outcome.
    Repro { target: String, file: PathBuf },
    /// HTML source-coverage report of a target over its corpus (cargo fuzz
    /// coverage + llvm-cov).
    Coverage { target: String },
    /// The REPRL target for Fuzzilli (fuzzilli/): build it with edge
    /// coverage, or prove it with Fuzzilli's own client code.
    Fuzzilli {
        #[command(subcommand)]
        command: FuzzilliCmd,
    },
    /// Our own V8 builds, cached in $V8CAGE_CACHE or ~/.cache/v8cage: the
    /// current V8 (15.2) by V8's own GN build, and V8 10.2 from Debian's
    /// nodejs 18 sources.
    V8 {
        #[command(subcommand)]
        command: V8Cmd,
    },
}

#[derive(Subcommand)]
enum FuzzilliCmd {
    /// Build v8cage-reprl with edge coverage; prints its path last. Run it
    /// as Fuzzilli's target with `--isolation process` for a cage worker.
    Build {
        /// A V8 prefix to link (e.g. one of `cargo xtask v8 build`'s);
        /// default: the one core/build.rs finds.
        #[arg(long)]
        v8: Option<PathBuf>,
    },
    /// Drive the target with Fuzzilli's libreprl and libcoverage, compiled
    /// from $FUZZILLI_DIR (skipped, visibly, without it).
    Prove {
        #[arg(long, default_value_t = 10_000)]
        executions: u64,
        #[arg(long, default_value = "in-process")]
        isolation: String,
    },
}

#[derive(Subcommand)]
enum V8Cmd {
    /// Build (or resume building) the current V8 (15.2, V8 sandbox on) in a
    /// profile: release (wheels, benchmarks), asan-cov (ASan + libFuzzer
    /// coverage of V8's edges), msan, fuzzilli (trace-pc-guard edges for the
    /// REPRL target). Hours on 2 cores; ends with the prefix for
    /// V8CAGE_V8_DIR.
    Build {
        profile: String,
        /// Parallel compile jobs (each takes about 1 GB).
        #[arg(long, default_value_t = 2)]
        jobs: u32,
        /// Run behind everything else (nice 19, idle I/O class).
        #[arg(long)]
        idle: bool,
    },
    /// Compile every shim file -fsyntax-only against the current V8's
    /// headers with the release profile's defines (fetches the sources
    /// once, minutes): the shim keeps building on the current V8 on a
    /// machine that has not built it.
    Check,
    /// Build (or resume) V8 10.2 from Debian's nodejs 18 sources: asan-cov,
    /// msan (its own libc++, V8's arm64 simulator), release, manylinux (zig,
    /// glibc 2.28).
    BuildNode18 {
        profile: String,
        /// Parallel compile jobs (each takes about 0.6 GB).
        #[arg(long, default_value_t = 2)]
        jobs: u32,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    // Paths given on the command line are relative to where the user stands.
    let user_dir = env::current_dir()?;
    env::set_current_dir(&root)?;
    // Every command needs V8 (or, for `setup`, is only that).
    setup(&root)?;
    match cli.command {
        Cmd::Setup => Ok(()),
        Cmd::Test { full } => test::all(&root, full),
        Cmd::Wheel { manylinux, target } => {
            wheel::wheel(&root, &manylinux, cross::target(&target)?)
        }
        Cmd::MiniRacerSuite { wheel } => mini_racer::run_suite(&root, wheel),
        Cmd::Bench {
            check,
            update,
            bench_args,
        } => {
            if check || update {
                if !bench_args.is_empty() {
                    anyhow::bail!("--check and --update run every benchmark: no filter");
                }
                bench::gate(&root, update)
            } else {
                bench::run_core(&root, &bench_args)
            }
        }
        Cmd::PyBench { bench_args } => python::bench(&root, &bench_args),
        Cmd::PyFuzz { time } => python::fuzz(&root, time),
        Cmd::Pytest { pytest_args } => python::pytest(&root, &pytest_args),
        Cmd::Sanitize { job, planted, v8 } => sanitize::run(&root, &job, planted, v8),
        Cmd::SanitizeProve { jobs, quick, v8 } => {
            let jobs = if jobs.is_empty() {
                sanitize::JOBS
                    .iter()
                    .map(|(job, _)| job.to_string())
                    .collect()
            } else {
                jobs
            };
            sanitize::prove(&root, &jobs, quick, v8)
        }
        Cmd::Fuzz {
            target,
            time,
            jobs,
            merge,
            libfuzzer_args,
        } => fuzz::libfuzzer(&root, &target, time, jobs, merge, &libfuzzer_args),
        Cmd::FuzzSmoke { time } => fuzz::smoke(&root, time),
        Cmd::Afl {
            target,
            time,
            jobs,
            out,
            sync_dir,
            machine,
            peers,
            sync_every,
        } => {
            let sync = match sync_dir {
                Some(dir) => Some(afl::SharedSync {
                    dir: user_dir.join(dir),
                    machine: match machine {
                        Some(name) => name,
                        None => host_name()?,
                    },
                    peers,
                    every_seconds: sync_every.max(1),
                }),
                None => None,
            };
            afl::run(
                &root,
                &afl::Campaign {
                    target,
                    seconds: time,
                    jobs,
                    out: out.map(|dir| user_dir.join(dir)),
                    sync,
                },
            )
        }
        Cmd::AflSyncCheck { target, time } => afl::sync_check(&root, &target, time),
        Cmd::CfliteBuild => cflite::build_and_check(&root),
        Cmd::Repro { target, file } => fuzz::repro(&root, &target, &user_dir.join(file)),
        Cmd::Coverage { target } => fuzz::coverage(&root, &target),
        Cmd::Fuzzilli { command } => match command {
            FuzzilliCmd::Build { v8 } => {
                let binary = fuzzilli::build(&root, v8.map(|dir| user_dir.join(dir)).as_deref())?;
                println!("{}", binary.display());
                Ok(())
            }
            FuzzilliCmd::Prove {
                executions,
                isolation,
            } => fuzzilli::prove(&root, executions, &isolation),
        },
        Cmd::V8 { command } => match command {
            V8Cmd::Build {
                profile,
                jobs,
                idle,
            } => v8build::current::build(&profile, jobs, idle),
            V8Cmd::Check => v8build::check::check(&root),
            V8Cmd::BuildNode18 { profile, jobs } => v8build::build(&profile, jobs),
        },
        Cmd::Run {
            file,
            timeout,
            heap_limit,
            debug,
            isolation,
        } => run_script(&user_dir, file, timeout, heap_limit, debug, isolation),
    }
}

fn host_name() -> Result<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .context("reading the host name; pass --machine")?;
    Ok(name.trim().to_string())
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `cargo xtask run`: the `run` example of the core, exiting as it does (its
/// exit code says whether the JavaScript failed).
fn run_script(
    user_dir: &Path,
    file: String,
    timeout: Option<String>,
    heap_limit: Option<String>,
    debug: bool,
    isolation: Option<String>,
) -> Result<()> {
    let file = if file == "-" {
        file.into()
    } else {
        user_dir.join(file).into_os_string()
    };
    let mut args: Vec<OsString> = ["run", "--quiet", "-p", "v8cage", "--example", "run", "--"]
        .map(OsString::from)
        .to_vec();
    args.push(file);
    if let Some(t) = timeout {
        args.extend(["--timeout".into(), t.into()]);
    }
    if let Some(h) = heap_limit {
        args.extend(["--heap-limit".into(), h.into()]);
    }
    if debug {
        args.push("--debug".into());
    }
    if let Some(i) = isolation {
        args.extend(["--isolation".into(), i.into()]);
    }
    let status = cargo_command().args(&args).status()?;
    std::process::exit(status.code().unwrap_or(1));
}
