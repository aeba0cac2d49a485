//! Where v8cage's V8 comes from, for `cargo xtask`: Debian's packages of
//! V8 10.2 ([`debian`], `cargo xtask setup`), the current V8 by V8's own GN
//! build ([`current`], `cargo xtask v8 build`), and V8 10.2 built from
//! Debian's nodejs source ([`node18`], `cargo xtask v8 build-node18`). Every
//! build is cached outside the repository per profile, resumable, and
//! checksummed when finished; [`check`] compiles the shim against the
//! current V8's headers without building it.

use std::env;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use devtools::cmd::apt_install;

pub mod check;
pub mod current;
pub mod debian;
mod libcxx;
mod ninja;
pub mod node18;
pub mod zig;

pub use node18::{build, cached_prefix, profile, Profile, Toolchain, PROFILES};

/// `$V8CAGE_CACHE`, or `~/.cache/v8cage`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("V8CAGE_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let home = env::var_os("HOME").context("neither V8CAGE_CACHE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/v8cage"))
}

/// What `cargo xtask test --full` says of the own V8 builds: which jobs
/// take one from the cache and which are skipped without one (CI never
/// builds V8: hours on 2 cores).
pub fn report() -> Result<()> {
    for profile in current::PROFILES {
        let used_by = match profile.name {
            "release" => ": the test suites and the manylinux_2_31 wheel run on it",
            "asan-cov" => ": cargo xtask fuzz and the fuzz smoke link it (V8's edges)",
            _ => "",
        };
        match current::cached_prefix(profile.name) {
            Some(prefix) => eprintln!(
                "xtask: current V8 {} `{}` in {} (checksums verified){used_by}",
                current::V8_VERSION,
                profile.name,
                prefix.display()
            ),
            None => eprintln!(
                "xtask: current V8 {} `{}`: SKIPPED, not in the cache (`cargo xtask v8 build {} --idle`, hours; never built in CI)",
                current::V8_VERSION,
                profile.name,
                profile.name
            ),
        }
    }
    for (name, with_it, without_it) in [
        (
            "asan-cov",
            "the fuzz smoke links it when the current V8's asan-cov is not cached",
            "the fuzz smoke links Debian's libnode (no V8 edges)",
        ),
        (
            "msan",
            "the msan sanitizer proof runs against it",
            "the msan proof reports its prerequisites missing",
        ),
        (
            "manylinux",
            "the wheels stage also builds the manylinux_2_28 wheel and tests it in Debian 11",
            "no manylinux_2_28 wheel",
        ),
    ] {
        match cached_prefix(name) {
            Some(prefix) => eprintln!(
                "xtask: own V8 `{name}` in {}: {with_it}",
                prefix.display()
            ),
            None => eprintln!(
                "xtask: own V8 `{name}`: SKIPPED, not in the cache (`cargo xtask v8 build {name}`, hours; never built in CI): {without_it}"
            ),
        }
    }
    Ok(())
}

/// Installs whichever of `packages` are missing, saying `why`.
pub(crate) fn ensure_packages(packages: &[&str], why: &str) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !devtools::toolchain::package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing, why)
}

/// Replaces `text`, found exactly once, by `replacement`; a file that
/// already has the replacement instead is left alone.
pub(crate) fn patch_file(path: &Path, text: &str, replacement: &str) -> Result<()> {
    let source =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match (source.matches(text).count(), source.contains(replacement)) {
        (0, true) => {}
        (1, _) => {
            std::fs::write(path, source.replacen(text, replacement, 1))
                .with_context(|| format!("patching {}", path.display()))?;
            eprintln!("xtask v8: patched {}", path.display());
        }
        (found, _) => bail!(
            "{}: expected the text to patch once, found it {found} times: {text}",
            path.display()
        ),
    }
    Ok(())
}
