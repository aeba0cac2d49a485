//! The MemorySanitizer-instrumented libc++ and libc++abi the `msan` profile
//! builds V8 (and later the shim) against: MSan must see every store, and
//! libstdc++'s extern templates run uninstrumented code. Built from the
//! LLVM sources of the installed clang (the same release, so its headers
//! match the compiler), about 5 minutes of one core.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use crate::ninja;
use crate::node18::{apt_source, CLANG, CLANGXX};
use devtools::cmd::run;

/// The compiler whose LLVM release we build libc++ from.
const COMPILER_PACKAGE: &str = "clang-19";
/// Only these parts of the LLVM tarball take part in a runtimes build.
const PARTS: &[&str] = &[
    "runtimes",
    "cmake",
    "libcxx",
    "libcxxabi",
    "libunwind",
    "libc",
    "llvm/cmake",
    "llvm/utils",
    "third-party",
];

/// `<cache>/libcxx-msan` with `include/c++/v1` and `lib/libc++.so`.
pub(super) fn msan_libcxx(cache: &Path, jobs: u32) -> Result<PathBuf> {
    let prefix = cache.join("libcxx-msan");
    if prefix.join("lib/libc++.so").exists() && prefix.join("include/c++/v1").is_dir() {
        return Ok(prefix);
    }
    let (package, version) = llvm_source_of(COMPILER_PACKAGE)?;
    let upstream = version
        .split_once(':')
        .map_or(version.as_str(), |(_, v)| v)
        .to_string();
    let dsc = apt_source(
        cache,
        &format!("{package}={version}"),
        &format!("{package}_{upstream}.dsc"),
    )?;
    let sources = dsc.parent().expect("a file in sources/");
    let release = upstream
        .split_once('-')
        .map_or(upstream.as_str(), |(r, _)| r);
    let top = format!("{package}_{release}");
    let tarball = sources.join(format!("{top}.orig.tar.xz"));
    let src = cache.join("libcxx-msan-src");
    if !src.join("runtimes/CMakeLists.txt").is_file() {
        let partial = cache.join("libcxx-msan-src.partial");
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial)?;
        eprintln!(
            "xtask v8: unpacking {} of {}",
            PARTS.join(" "),
            tarball.display()
        );
        run(Command::new("tar")
            .arg("-xJf")
            .arg(&tarball)
            .arg("--strip-components=1")
            .arg("-C")
            .arg(&partial)
            .args(PARTS.iter().map(|part| format!("{top}/{part}"))))?;
        let _ = std::fs::remove_dir_all(&src);
        std::fs::rename(&partial, &src)?;
    }
    let build = cache.join("libcxx-msan-build");
    if !build.join("build.ninja").is_file() {
        std::fs::create_dir_all(&build)?;
        run(Command::new("cmake")
            .args(["-G", "Ninja", "-S"])
            .arg(src.join("runtimes"))
            .arg("-B")
            .arg(&build)
            .env("CC", CLANG)
            .env("CXX", CLANGXX)
            .args([
                "-DLLVM_ENABLE_RUNTIMES=libcxx;libcxxabi",
                // The system's unwinder (libgcc_s), as the rest of the program.
                "-DLIBCXXABI_USE_LLVM_UNWINDER=OFF",
                "-DLLVM_USE_SANITIZER=MemoryWithOrigins",
                "-DCMAKE_BUILD_TYPE=Release",
                "-DLIBCXX_INCLUDE_TESTS=OFF",
                "-DLIBCXXABI_INCLUDE_TESTS=OFF",
                "-DLIBCXX_INCLUDE_BENCHMARKS=OFF",
            ])
            .arg(format!("-DCMAKE_INSTALL_PREFIX={}", prefix.display())))?;
    }
    ninja::ninja(
        &[],
        &build,
        jobs,
        &["install-cxx", "install-cxxabi"],
        &cache.join("build-libcxx-msan.log"),
    )?;
    if !prefix.join("lib/libc++.so").exists() {
        bail!(
            "the libc++ build installed no {}/lib/libc++.so",
            prefix.display()
        );
    }
    Ok(prefix)
}

/// The source package and version a binary package was built from
/// (`llvm-toolchain-19`, `1:19.1.7-3~deb12u1`).
fn llvm_source_of(binary: &str) -> Result<(String, String)> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${source:Package} ${source:Version}", binary])
        .output()
        .with_context(|| format!("asking dpkg which source built {binary}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().split_once(' ') {
        Some((package, version)) if out.status.success() => {
            Ok((package.to_string(), version.to_string()))
        }
        _ => bail!("{binary} is not installed (dpkg-query: {text:?})"),
    }
}
