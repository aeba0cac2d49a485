//! Running programs: cargo without the caller's toolchain pin, any command
//! with its status checked, and whether we are root (to install packages).

use std::process::Command;

use anyhow::{bail, Context as _, Result};

/// `cargo`, without the toolchain pin of the cargo running xtask, so that
/// `cargo +nightly ...` picks nightly.
pub fn cargo_command() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

pub fn cargo(args: &[&str]) -> Result<()> {
    run(cargo_command().args(args))
}

pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Installs Debian packages with apt-get (updating the package lists once if
/// the first try fails: a fresh machine may have none). Not root: an error
/// naming the command to run, after `why`.
pub fn apt_install(packages: &[&str], why: &str) -> Result<()> {
    if !is_root() {
        bail!(
            "{why}; run:\n  sudo apt-get install -y {}",
            packages.join(" ")
        );
    }
    eprintln!("xtask: installing {} ({why})", packages.join(" "));
    let install = || {
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    install().or_else(|_| {
        run(Command::new("apt-get").arg("update"))?;
        install()
    })
}
