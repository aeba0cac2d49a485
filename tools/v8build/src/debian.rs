//! Debian's V8 10.2, the engine a fresh machine gets in minutes
//! (`cargo xtask setup`): make V8 available (V8CAGE_V8_DIR, the system's
//! libnode-dev, or Debian's packages unpacked into .deps/v8/) and the
//! libraries it needs at run time.

use std::env;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use devtools::cmd::{apt_install, is_root, run};
use devtools::toolchain::package_installed;

/// Debian packages V8 (inside libnode) needs at run time.
pub const RUNTIME_PACKAGES: &[&str] = &[
    "libuv1",
    "libicu72",
    "libc-ares2",
    "libnghttp2-14",
    "libbrotli1",
    "libssl3",
];
/// Debian packages that carry V8 10.2's library and headers.
pub const V8_PACKAGES: &[&str] = &["libnode108", "libnode-dev"];

pub fn has_v8(include: &Path, lib_dir: &Path) -> bool {
    include.join("v8.h").is_file()
        && (lib_dir.join("libnode.so").exists() || lib_dir.join("libv8.so").exists())
}

pub fn setup(root: &Path) -> Result<()> {
    if let Some(dir) = env::var_os("V8CAGE_V8_DIR") {
        let dir = PathBuf::from(dir);
        if !dir.join("include").exists() {
            bail!("V8CAGE_V8_DIR={} has no include/ directory", dir.display());
        }
        eprintln!("xtask setup: using V8 from V8CAGE_V8_DIR={}", dir.display());
        return Ok(());
    }
    // Two setups at once (two terminals, a build and a wheel) raced on
    // .deps/v8.partial ("tar: ./usr: Cannot mkdir"): one at a time, and the
    // second then finds what the first installed.
    let _lock = setup_lock(&root.join(".deps"))?;
    let deps = root.join(".deps/v8");
    let deps_ok = has_v8(
        &deps.join("usr/include/node"),
        &deps.join("usr/lib/x86_64-linux-gnu"),
    );
    let system_ok = has_v8(
        Path::new("/usr/include/node"),
        Path::new("/usr/lib/x86_64-linux-gnu"),
    );
    if deps_ok {
        eprintln!("xtask setup: V8 already in {}", deps.display());
    } else if system_ok {
        eprintln!("xtask setup: using the system's libnode-dev (/usr/include/node)");
    } else {
        fetch_packages(root, &deps, V8_PACKAGES, "x86_64-linux-gnu")?;
    }
    ensure_runtime_packages()
}

/// An exclusive lock on `<deps>/setup.lock`, held until the file is
/// dropped; waits for another holder (std's `File::lock`, flock(2)).
pub fn setup_lock(deps: &Path) -> Result<File> {
    std::fs::create_dir_all(deps)?;
    let path = deps.join("setup.lock");
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    if file.try_lock().is_err() {
        eprintln!(
            "xtask setup: waiting for another setup ({})",
            path.display()
        );
        file.lock()?;
    }
    Ok(file)
}

/// Downloads `packages` (`name` or `name:arch`) with `apt-get download` and
/// unpacks them into `deps`, which must then hold V8's headers and, under
/// `usr/lib/<multiarch>`, its library.
pub fn fetch_packages(root: &Path, deps: &Path, packages: &[&str], multiarch: &str) -> Result<()> {
    let name = deps.file_name().unwrap_or_default().to_string_lossy();
    let download = root.join(format!(".deps/{name}.download"));
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download)?;
    eprintln!(
        "xtask setup: fetching {} with apt-get download into {}",
        packages.join(" "),
        download.display()
    );
    let mut fetch = Command::new("apt-get");
    fetch.arg("download").args(packages).current_dir(&download);
    if run(&mut fetch).is_err() {
        if !is_root() {
            bail!("apt-get download failed; run `sudo apt-get update` and try again");
        }
        // A fresh machine may have no package lists yet.
        run(Command::new("apt-get").arg("update"))?;
        run(&mut fetch)?;
    }
    let staging = root.join(format!(".deps/{name}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    for entry in std::fs::read_dir(&download)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            run(Command::new("dpkg-deb").arg("-x").arg(&path).arg(&staging))?;
        }
    }
    if !has_v8(
        &staging.join("usr/include/node"),
        &staging.join("usr/lib").join(multiarch),
    ) {
        bail!("the unpacked packages hold no usr/include/node/v8.h + libnode.so");
    }
    // Rename last, so an interrupted setup never looks complete.
    let _ = std::fs::remove_dir_all(deps);
    std::fs::rename(&staging, deps)?;
    std::fs::remove_dir_all(&download)?;
    eprintln!("xtask setup: V8 unpacked into {}", deps.display());
    Ok(())
}

fn ensure_runtime_packages() -> Result<()> {
    let missing: Vec<&str> = RUNTIME_PACKAGES
        .iter()
        .copied()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() {
        eprintln!(
            "xtask setup: runtime libraries present ({})",
            RUNTIME_PACKAGES.join(" ")
        );
        return Ok(());
    }
    apt_install(&missing, "V8 needs these runtime libraries")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_setup_waits_for_the_first() {
        let deps = env::temp_dir().join(format!("xtask-setup-lock-{}", std::process::id()));
        let held = setup_lock(&deps).unwrap();
        let other = File::create(deps.join("setup.lock")).unwrap();
        assert!(other.try_lock().is_err(), "the lock is held");
        drop(held);
        assert!(other.try_lock().is_ok(), "and released with its file");
        std::fs::remove_dir_all(&deps).unwrap();
    }
}
