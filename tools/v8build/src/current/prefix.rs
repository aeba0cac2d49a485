//! The finished prefix of a current-V8 profile: V8's headers with the
//! build's defines, Chromium's libc++ headers and libraries beside
//! `libv8.so`, sid's clang to compile against them, and the stamp with the
//! libraries' checksums; and the compilers a wheel's extension is built with.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use super::{
    in_chroot, sha256_of, Layout, Profile, CLANG_MAJOR, CRATE_VERSION, DONE_MARK, V8_VERSION,
};
use devtools::cmd::run;

/// The defines an embedder must compile with, from what GN gives the
/// library's own dependents: V8's and cppgc's configuration, and libc++'s
/// hardening mode. Written as V8's `v8-gn.h` (read when `V8_GN_HEADER` is
/// defined) so every embedder sees the same configuration.
fn embedder_defines(layout: &Layout, profile: &Profile) -> Result<Vec<String>> {
    let out = in_chroot(
        layout,
        &format!(
            "cd {} && gn desc {} //v8cage:v8 defines",
            layout.tree().display(),
            layout.out(profile).display()
        ),
    )
    .output()
    .context("running gn desc in the sid userland")?;
    if !out.status.success() {
        bail!("gn desc failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|d| d.starts_with("V8_") || d.starts_with("CPPGC_") || d.starts_with("_LIBCPP_"))
        .map(String::from)
        .collect())
}

pub(super) fn v8_gn_header(defines: &[String]) -> String {
    let mut text = String::from(
        "// Written by v8cage's xtask from the build's GN configuration.\n#ifndef V8_GN_H_\n#define V8_GN_H_\n",
    );
    for define in defines {
        let (name, value) = define.split_once('=').unwrap_or((define, "1"));
        text.push_str(&format!("#define {name} {value}\n"));
    }
    text.push_str("#endif\n");
    text
}

/// `__config_site` with `defines` added before its closing `#endif`.
pub(super) fn with_config_defines(config_site: &str, defines: &[String]) -> Result<String> {
    let end = config_site
        .rfind("#endif")
        .context("libc++'s __config_site has no closing #endif")?;
    let mut added =
        String::from("// v8cage: the settings V8's build gave libc++ on the command line\n");
    for define in defines {
        let (name, value) = define.split_once('=').unwrap_or((define, "1"));
        added.push_str(&format!("#define {name} {value}\n"));
    }
    Ok(format!(
        "{}{added}{}",
        &config_site[..end],
        &config_site[end..]
    ))
}

/// Runs sid's `clang` or `clang++` from outside the userland: through
/// sid's dynamic loader and libraries, with clang's resource directory
/// named (it would look beside the loader); `extra` goes before the
/// caller's arguments.
fn clang_launcher(sid: &Path, driver: &str, extra: &str) -> String {
    let sid = sid.display();
    format!(
        "#!/bin/sh\n# sid's clang {CLANG_MAJOR}, which V8's libc++ headers need, run from the host.\n\
         S={sid}\nexec \"$S/lib64/ld-linux-x86-64.so.2\" --library-path \"$S/lib/x86_64-linux-gnu:$S/usr/lib/x86_64-linux-gnu\" \
         \"$S/usr/lib/llvm-{CLANG_MAJOR}/bin/{driver}\" -resource-dir \"$S/usr/lib/llvm-{CLANG_MAJOR}/lib/clang/{CLANG_MAJOR}\" {extra}\"$@\"\n"
    )
}

/// sid's clang as C and C++ compilers (and linker) for the glibc V8 is
/// built against: what the shim and the Python extension of a wheel that
/// bundles the current V8 are built with, so all three share one glibc
/// floor ([`SYSROOT_GLIBC`]).
pub struct SysrootToolchain {
    pub cc: PathBuf,
    pub cxx: PathBuf,
}

/// The glibc of the sysroot every profile is built against.
pub const SYSROOT_GLIBC: &str = "2.31";

/// Writes the [`SysrootToolchain`] wrappers into `<cache>/tools/clang-bullseye/`;
/// the userland and the sysroot are a V8 build's (`cargo xtask v8 build`).
pub fn sysroot_toolchain() -> Result<SysrootToolchain> {
    let layout = Layout {
        cache: crate::cache_dir()?,
    };
    for dir in [layout.sid_root(), layout.sysroot()] {
        if !dir.join(DONE_MARK).is_file() {
            bail!(
                "{} is missing: it comes with the current V8 (`cargo xtask v8 build release`)",
                dir.display()
            );
        }
    }
    let dir = layout.cache.join("tools/clang-bullseye");
    std::fs::create_dir_all(&dir)?;
    // GNU ld from the host links (sid's lld needs sid's loader too); the
    // sysroot gives it the old glibc's crt files and symbol versions.
    let extra = format!("--sysroot={} ", layout.sysroot().display());
    let write = |name: &str, driver: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, clang_launcher(&layout.sid_root(), driver, &extra))?;
        run(Command::new("chmod").arg("+x").arg(&path))?;
        Ok(path)
    };
    Ok(SysrootToolchain {
        cc: write("cc", "clang")?,
        cxx: write("c++", "clang++")?,
    })
}

/// The libraries a prefix's stamp lists with their checksums.
const PREFIX_LIBRARIES: &[&str] = &["lib/libv8.so", "lib/libc++.so"];

/// libc++abi as a library of its own, where a profile leaves it out of
/// `libc++.so`.
const LIBCXXABI: &str = "lib/libc++abi.so";
/// What a sanitizer build's libv8.so links besides libc++ (Chromium's
/// `//build/sanitizers:sanitizer_shared_hooks`).
const SANITIZER_HOOKS: &str = "lib/libsanitizer_shared_hooks.so";

/// ASan builds leave libc++abi (`__cxa_throw`, `std::bad_alloc`...) out of
/// `libc++.so`: Chromium links it into every executable and exports it from
/// there (`export_libcxxabi_from_executables`). Ours are Rust's, so its
/// objects become `libc++abi.so`, linked by sid's clang against the sysroot;
/// the ASan runtime it calls comes from the executable, as libv8.so's does.
/// `None` where `libc++.so` has it.
fn link_libcxxabi(layout: &Layout, profile: &Profile) -> Result<Option<PathBuf>> {
    let out = layout.out(profile);
    let objects_dir = out.join("obj/buildtools/third_party/libc++abi/libc++abi");
    if !objects_dir.is_dir() {
        return Ok(None);
    }
    let mut objects: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&objects_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "o") {
            objects.push(path.display().to_string());
        }
    }
    objects.sort();
    let library = out.join("libc++abi.so");
    run(&mut in_chroot(
        layout,
        &format!(
            "/usr/lib/llvm-{CLANG_MAJOR}/bin/clang++ -shared -fuse-ld=lld --sysroot={} -nostdlib++ \
             -Wl,-soname,libc++abi.so -o {} {}",
            layout.sysroot().display(),
            library.display(),
            objects.join(" ")
        ),
    ))?;
    Ok(Some(library))
}

/// The prefix, written beside its place and renamed in, stamped last.
pub(super) fn install(layout: &Layout, profile: &Profile) -> Result<PathBuf> {
    let prefix = layout.prefix(profile);
    let staging = prefix.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("lib"))?;
    std::fs::create_dir_all(staging.join("bin"))?;
    let tree = layout.tree();
    let out = layout.out(profile);
    run(Command::new("cp")
        .arg("-r")
        .arg(tree.join("v8/include"))
        .arg(staging.join("include")))?;
    let (libcxx_defines, defines): (Vec<String>, Vec<String>) = embedder_defines(layout, profile)?
        .into_iter()
        .partition(|d| d.starts_with("_LIBCPP_"));
    if profile.name == "release" && defines != crate::check::RELEASE_DEFINES {
        bail!(
            "the release build's embedder defines changed; update RELEASE_DEFINES in tools/v8build/src/check.rs to:\n{defines:#?}"
        );
    }
    std::fs::write(staging.join("include/v8-gn.h"), v8_gn_header(&defines))?;
    // libc++'s headers with Chromium's configuration (__config_site,
    // __assertion_handler) and libc++abi's.
    let cxx = staging.join("include/c++/v1");
    std::fs::create_dir_all(&cxx)?;
    for dir in [
        tree.join("third_party/libc++/src/include"),
        tree.join("third_party/libc++abi/src/include"),
    ] {
        run(Command::new("cp")
            .arg("-r")
            .arg(format!("{}/.", dir.display()))
            .arg(&cxx))?;
    }
    std::fs::copy(
        tree.join("buildtools/third_party/libc++/__assertion_handler"),
        cxx.join("__assertion_handler"),
    )?;
    // Chromium gives libc++'s build-dependent settings (hardening mode, ASan
    // container annotations) on the command line; every libc++ header reads
    // __config_site first, so an embedder gets them there.
    let config_site =
        std::fs::read_to_string(tree.join("buildtools/third_party/libc++/__config_site"))?;
    std::fs::write(
        cxx.join("__config_site"),
        with_config_defines(&config_site, &libcxx_defines)?,
    )?;
    for lib in ["libv8.so", "libc++.so"] {
        std::fs::copy(out.join(lib), staging.join("lib").join(lib))?;
    }
    let mut libraries = PREFIX_LIBRARIES.to_vec();
    if let Some(libcxxabi) = link_libcxxabi(layout, profile)? {
        std::fs::copy(&libcxxabi, staging.join(LIBCXXABI))?;
        libraries.push(LIBCXXABI);
    }
    // Sanitizer builds: libv8.so also needs Chromium's sanitizer hooks.
    let hooks = out.join(SANITIZER_HOOKS.trim_start_matches("lib/"));
    if hooks.is_file() {
        std::fs::copy(&hooks, staging.join(SANITIZER_HOOKS))?;
        libraries.push(SANITIZER_HOOKS);
    }
    let launcher = staging.join("bin/clang++");
    std::fs::write(&launcher, clang_launcher(&layout.sid_root(), "clang++", ""))?;
    run(Command::new("chmod").arg("+x").arg(&launcher))?;
    let mut stamp = format!(
        "V8 {V8_VERSION} (crates.io v8 {CRATE_VERSION}), profile {}: {}\n",
        profile.name, profile.what
    );
    for lib in libraries {
        stamp.push_str(&format!("{} {lib}\n", sha256_of(&staging.join(lib))?));
    }
    std::fs::write(staging.join(DONE_MARK), stamp)?;
    let _ = std::fs::remove_dir_all(&prefix);
    std::fs::create_dir_all(prefix.parent().expect("a prefix has a parent"))?;
    std::fs::rename(&staging, &prefix)?;
    Ok(prefix)
}

/// A prefix is used only when its stamp exists and every library matches
/// its checksum: a half-written or damaged prefix is never linked.
pub(super) fn verify_prefix(prefix: &Path) -> Result<()> {
    let stamp = std::fs::read_to_string(prefix.join(DONE_MARK))
        .with_context(|| format!("{} is not a finished build", prefix.display()))?;
    for line in stamp.lines().skip(1) {
        let Some((sum, lib)) = line.split_once(' ') else {
            continue;
        };
        let got = sha256_of(&prefix.join(lib))?;
        if got != sum {
            bail!(
                "{}: {lib} changed since the build (sha256 {got}, stamp {sum})",
                prefix.display()
            );
        }
    }
    Ok(())
}
