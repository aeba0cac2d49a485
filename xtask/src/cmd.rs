//! Running programs: cargo without the caller's toolchain pin, any command
//! with its status checked, and whether we are root (to install packages).

use std::process::Command;

use anyhow::{bail, Context as _, Result};

/// `cargo`, without the toolchain pin of the cargo running xtask, so that
/// `cargo +nightly ...` picks nightly.
pub(crate) fn cargo_command() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

pub(crate) fn cargo(args: &[&str]) -> Result<()> {
    run(cargo_command().args(args))
}

pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}
