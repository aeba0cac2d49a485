//! Replays one fuzz input through its target and prints what the target made
//! of it (the source, generated program, value or op list) and each step's
//! outcome. A failing oracle panics with its explanation and exits non-zero.
//! `cargo xtask repro <target> <file>` wraps it.

use std::process::ExitCode;

use clap::Parser;
use v8cage::fuzzing;

#[derive(Parser)]
#[command(about = "Replay a fuzz input through a v8cage fuzz target")]
struct Args {
    /// One of: eval, eval_gen, roundtrip, json, api_ops.
    target: String,
    /// The input file (a crash, a corpus entry, ...).
    file: std::path::PathBuf,
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
    let Some(decoded) = fuzzing::describe(&args.target, &data) else {
        eprintln!(
            "unknown target {:?}; targets: {}",
            args.target,
            fuzzing::TARGETS.join(", ")
        );
        return ExitCode::from(2);
    };
    // Printed before running, so it is there even when the oracle panics.
    println!("--- decoded input ---\n{decoded}");
    match fuzzing::run(&args.target, &data) {
        Some(outcome) => {
            println!("--- steps ---\n{outcome}oracle: passed");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "unknown target {:?}; targets: {}",
                args.target,
                fuzzing::TARGETS.join(", ")
            );
            ExitCode::from(2)
        }
    }
}
