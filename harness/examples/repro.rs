//! Replays one fuzz input through its target and prints what the target made
//! of it (the source, generated program, value or op list) and each step's
//! outcome. A failing oracle panics with its explanation and exits non-zero.
//! `cargo xtask repro <target> <file>` wraps it.

use std::process::ExitCode;

use clap::Parser;
use v8cage_harness as fuzzing;

#[derive(Parser)]
#[command(about = "Replay a fuzz input through a v8cage fuzz target")]
struct Args {
    /// A target of `v8cage_harness::TARGETS`.
    target: String,
    /// The input file (a crash, a corpus entry, ...).
    file: std::path::PathBuf,
    /// `eval`/`eval_gen` only: run the input's source alone in a process
    /// context instead and say whether V8 itself failed there: exit 0 for a
    /// stall (a builtin that ignores termination, ended as `Timeout` by the
    /// cage's kill within 5 s), 3 for a known V8 10.2 abort (`Crashed` with
    /// V8's size errors), 1 for anything else. How `cargo xtask fuzz`
    /// triages their timeouts and crashes.
    #[arg(long)]
    contained: bool,
}

/// V8 10.2's fatal errors on sizes a script chooses (README, "Known
/// limits"), as a worker's last words show them.
const KNOWN_V8_ABORTS: &[&str] = &[
    "Fatal JavaScript invalid size error",
    "Fatal javascript OOM in invalid array length",
];

fn main() -> ExitCode {
    let args = Args::parse();
    let data = match std::fs::read(&args.file) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("cannot read {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let Some(target) = fuzzing::TARGETS.iter().find(|t| t.name == args.target) else {
        let names: Vec<&str> = fuzzing::TARGETS.iter().map(|t| t.name).collect();
        eprintln!(
            "unknown target {:?}; targets: {}",
            args.target,
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    if args.contained {
        let started = std::time::Instant::now();
        let Some(result) = fuzzing::rerun_contained(target.name, &data) else {
            eprintln!("--contained is for eval and eval_gen");
            return ExitCode::from(2);
        };
        let took = started.elapsed();
        println!("alone, in a process context: {result:?} after {took:?}");
        return match result {
            Err(v8cage::Error::Timeout) if took.as_secs() < 5 => ExitCode::SUCCESS,
            Err(v8cage::Error::Crashed { message, .. })
                if KNOWN_V8_ABORTS.iter().any(|m| message.contains(m)) =>
            {
                ExitCode::from(3)
            }
            _ => ExitCode::FAILURE,
        };
    }
    // Printed before running, so it is there even when the oracle panics.
    println!("--- decoded input ---\n{}", (target.describe)(&data));
    let outcome = (target.run)(&data);
    println!("--- steps ---\n{outcome}oracle: passed");
    ExitCode::SUCCESS
}
