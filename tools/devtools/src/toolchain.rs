//! The tools the tasks need, found or installed: nightly Rust, cargo
//! subcommands, clang, Debian packages.

use std::process::Command;

use anyhow::Result;

use crate::cmd::{apt_install, cargo_command, run};

/// Whether a Debian package is installed (dpkg's status).
pub fn package_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains("install ok installed")
        })
        .unwrap_or(false)
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

/// Sanitizers need nightly; install it (minimal profile) when missing.
pub fn ensure_nightly() -> Result<()> {
    if succeeds(Command::new("rustc").args(["+nightly", "--version"])) {
        return Ok(());
    }
    eprintln!("xtask: fuzzing needs a nightly toolchain (sanitizers); installing it");
    run(Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))
}

pub fn ensure_installed(subcommand: &str, krate: &str) -> Result<()> {
    if succeeds(cargo_command().args([subcommand, "--version"])) {
        return Ok(());
    }
    eprintln!("xtask: installing {krate} (once)");
    // --locked first (the tool's tested dependency versions), then without
    // it in case one of those was yanked.
    run(cargo_command().args(["install", "--locked", krate]))
        .or_else(|_| run(cargo_command().args(["install", krate])))
}

/// The apt packages of the clang the sanitizer scripts install too
/// (`CLANG_PACKAGES` in sanitizer-builds/common.sh).
pub const CLANG_PACKAGES: &[&str] = &["clang-19", "llvm-19", "libclang-rt-19-dev"];

/// Whether a `clang++` or `clang++-<version>` is in one of the folders of
/// `path` (a PATH value; core/build.rs takes the newest).
fn has_clang(path: &std::ffi::OsStr) -> bool {
    std::env::split_paths(path).any(|dir| {
        std::fs::read_dir(dir).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("clang++")))
        })
    })
}

/// Without clang the shim is compiled by the default C++ compiler: neither
/// ASan- nor coverage-instrumented, so the fuzzer cannot see into it.
/// Installs clang when root, as the sanitizer scripts do.
pub fn ensure_clang() -> Result<()> {
    if has_clang(&std::env::var_os("PATH").unwrap_or_default()) {
        return Ok(());
    }
    apt_install(
        CLANG_PACKAGES,
        "fuzzing needs clang for the shim's instrumentation",
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn clang_is_found_by_name_in_any_path_folder() {
        let base = std::env::temp_dir().join(format!("xtask-clang-{}", std::process::id()));
        let (empty, with) = (base.join("empty"), base.join("with"));
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(&with).unwrap();
        let path = |dirs: &[&Path]| std::env::join_paths(dirs).unwrap();
        assert!(!has_clang(&path(&[&empty])));
        std::fs::write(with.join("clang++-16"), "").unwrap();
        assert!(has_clang(&path(&[&empty, &with])));
        assert!(!has_clang(&path(&[&base.join("missing")])));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
