//! `cargo xtask v8 check`: every shim file compiled `-fsyntax-only` against
//! the current V8's headers (from the `v8` crate's sources, fetched once)
//! with the release profile's defines. A machine that never built the
//! current V8 still learns when the shim stops compiling against it.
//!
//! The headers are V8's own and independent of the C++ library, so the
//! check uses the host's clang and libstdc++ (the built prefix pairs them
//! with Chromium's libc++ and sid's clang; `current.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use super::current;

/// The defines the release profile gives embedders (`gn desc` of the
/// library's dependents; `current::install` refuses a build whose defines
/// differ from these, so the check cannot drift from the build).
pub const RELEASE_DEFINES: &[&str] = &[
    "V8_ARRAY_BUFFER_INTERNAL_FIELD_COUNT=2",
    "V8_ARRAY_BUFFER_VIEW_INTERNAL_FIELD_COUNT=2",
    "V8_PROMISE_INTERNAL_FIELD_COUNT=1",
    "V8_USE_DEFAULT_HASHER_SECRET=false",
    "V8_COMPRESS_POINTERS",
    "V8_COMPRESS_POINTERS_IN_SHARED_CAGE",
    "V8_31BIT_SMIS_ON_64BIT_ARCH",
    "V8_ENABLE_SANDBOX",
    "V8_DEPRECATION_WARNINGS",
    "V8_CPPGC_MICROTASK_QUEUE",
    "V8_HAVE_TARGET_OS",
    "V8_TARGET_OS_LINUX",
    "CPPGC_SUPPORTS_OBJECT_NAMES",
    "CPPGC_CAGED_HEAP",
    "CPPGC_YOUNG_GENERATION",
    "CPPGC_POINTER_COMPRESSION",
    "CPPGC_ENABLE_LARGER_CAGE",
    "CPPGC_ENABLE_OBJECT_SECTION_GCINFO",
    "CPPGC_SLIM_WRITE_BARRIER",
];

/// Shim files written for V8 10.2 only (core/build.rs leaves them out of a
/// current-V8 build): a v8::Platform forwarder whose interface changed, not
/// needed where the V8 sandbox places heap pages itself.
const TEN_TWO_ONLY: &[&str] = &["kernel_placed_pages.cc"];

pub fn check(root: &Path) -> Result<()> {
    let include = headers()?;
    devtools::toolchain::ensure_clang()?;
    let clang = ["clang++-19", "clang++"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .context("no clang++ on PATH after installing clang-19")?;
    let shim = root.join("core/shim");
    let mut files = cc_files(&shim)?;
    files.extend(cc_files(&shim.join("testing"))?);
    files.retain(|f| {
        !TEN_TWO_ONLY
            .iter()
            .any(|skip| f.file_name().is_some_and(|n| n == *skip))
    });
    let mut failed = Vec::new();
    for file in &files {
        let mut cmd = Command::new(clang);
        cmd.args([
            "-std=c++20",
            "-fsyntax-only",
            "-fno-rtti",
            "-Werror",
            "-Wall",
        ])
        .args(["-Wno-unused-parameter", "-Wno-unused-variable"])
        .arg("-isystem")
        .arg(&include)
        .arg("-I")
        .arg(&shim)
        .args(RELEASE_DEFINES.iter().map(|d| format!("-D{d}")))
        // The planted bugs are meant to be wrong at run time, not here.
        .arg("-Wno-uninitialized")
        .arg("-Wno-sometimes-uninitialized")
        .arg(file);
        let status = cmd.status().with_context(|| format!("running {clang}"))?;
        if !status.success() {
            failed.push(file.display().to_string());
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} shim file(s) do not compile against V8 {}: {}",
            failed.len(),
            current::V8_VERSION,
            failed.join(", ")
        );
    }
    eprintln!(
        "xtask v8 check: {} shim files compile against V8 {} (release profile defines: pointer compression, V8 sandbox)",
        files.len(),
        current::V8_VERSION
    );
    Ok(())
}

fn cc_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "cc"));
    files.sort();
    Ok(files)
}

/// `<cache>/check/v8-<version>/include`: V8's public headers out of the
/// crate (downloaded and checked once).
fn headers() -> Result<PathBuf> {
    let cache = super::cache_dir()?;
    let dir = cache
        .join("check")
        .join(format!("v8-{}", current::V8_VERSION));
    let include = dir.join("include");
    if include.join("v8.h").is_file() {
        return Ok(include);
    }
    super::ensure_packages(&["curl"], "the current V8's sources are downloaded with it")?;
    let crate_file = current::crate_file(&cache)?;
    let partial = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    devtools::cmd::run(
        Command::new("tar")
            .arg("xzf")
            .arg(&crate_file)
            .arg("-C")
            .arg(&partial)
            .args(["--strip-components=2", "--wildcards", "*/v8/include/*"]),
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&partial, &dir)?;
    Ok(include)
}
