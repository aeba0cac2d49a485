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
    // Printed before running, so it is there even when the oracle panics.
    println!("--- decoded input ---\n{}", (target.describe)(&data));
    let outcome = (target.run)(&data);
    println!("--- steps ---\n{outcome}oracle: passed");
    ExitCode::SUCCESS
}
