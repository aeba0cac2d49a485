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
    /// context instead; exit 0 if it ended in `Timeout` within 5 s (a V8
    /// builtin that ignores termination, which the cage's kill ended), 1
    /// otherwise. How `cargo xtask fuzz` triages their libFuzzer timeouts.
    #[arg(long)]
    contained: bool,
}

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
        let stall = matches!(result, Err(v8cage::Error::Timeout)) && took.as_secs() < 5;
        return if stall {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    // Printed before running, so it is there even when the oracle panics.
    println!("--- decoded input ---\n{}", (target.describe)(&data));
    let outcome = (target.run)(&data);
    println!("--- steps ---\n{outcome}oracle: passed");
    ExitCode::SUCCESS
}
