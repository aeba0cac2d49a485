//! `cargo xtask v8 build-node18 <profile>`: V8 10.2.154.26 — the V8 of
//! Debian's libnode108, so the same API — built from Debian's nodejs 18
//! source package with clang and sanitizer or coverage instrumentation,
//! through Node's own gyp + ninja route. Everything lives in a cache outside
//! the repository (`$V8CAGE_CACHE`, default `~/.cache/v8cage`): the sources,
//! one build tree per profile (ninja resumes an interrupted build) and the
//! finished prefix (`include/`, `lib/libv8.so`) that `V8CAGE_V8_DIR` and
//! `core/build.rs` take.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use devtools::cmd::run;

use crate::{cache_dir, ensure_packages, libcxx, ninja, patch_file, zig};

/// The source package whose `deps/v8` is V8 10.2.154.26 (the security
/// update `~deb12u3` has no `.dsc` on the mirror; its V8 is the same).
const NODE_SOURCE: &str = "nodejs=18.20.4+dfsg-1~deb12u2";
const NODE_DSC: &str = "nodejs_18.20.4+dfsg-1~deb12u2.dsc";
/// Where that version is: bookworm itself.
const DEB_SRC_LINES: &str = "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main\n";
pub(crate) const CLANG: &str = "clang-19";
pub(crate) const CLANGXX: &str = "clang++-19";
/// What the build needs besides clang: ninja, and the headers of the
/// libraries Node's configure insists on finding when told to use the
/// system's (`--shared-*`), as Debian's build does; and Debian's archive key,
/// which signs the source index (not preinstalled on Ubuntu).
const BUILD_PACKAGES: &[&str] = &[
    "ninja-build",
    "clang-19",
    "libuv1-dev",
    "libc-ares-dev",
    "libnghttp2-dev",
    "libbrotli-dev",
    "libssl-dev",
    "zlib1g-dev",
    "libicu-dev",
    "dpkg-dev",
    "debian-archive-keyring",
];
/// The static libraries libnode links for V8 (its `libnode.ninja`), built by
/// these ninja targets; together they are `libv8.so`.
const V8_TARGETS: &[&str] = &[
    "v8_snapshot",
    "v8_libplatform",
    "v8_initializers",
    "v8_zlib",
];
const V8_ARCHIVES: &[&str] = &[
    "libv8_base_without_compiler.a",
    "libv8_compiler.a",
    "libv8_initializers.a",
    "libv8_libbase.a",
    "libv8_libplatform.a",
    "libv8_snapshot.a",
    "libv8_zlib.a",
];
/// Written into a prefix last: a prefix without it is not finished.
const COMPLETE_MARK: &str = "v8cage-build.txt";

/// A way to build V8.
pub struct Profile {
    pub name: &'static str,
    what: &'static str,
    /// C and C++ flags of every translation unit (after Node's own -O3, so
    /// an -O here wins).
    cflags: &'static str,
    ldflags: &'static str,
    /// `--with-intl=...`: ICU from the system, or none where the system's
    /// uninstrumented ICU would be wrong (MSan).
    intl: &'static str,
    /// gyp variables (`GYP_DEFINES`).
    gyp_defines: &'static str,
    /// Flags for C++ only, after `cflags`.
    cxxflags: &'static str,
    /// Built against an MSan-instrumented libc++ of our own (`{libcxx}` in
    /// the flags is its prefix), copied into the V8 prefix.
    msan_libcxx: bool,
    /// Edits of the unpacked sources: (file, text, replacement), each text
    /// found exactly once (or already replaced).
    source_patches: &'static [(&'static str, &'static str, &'static str)],
    pub toolchain: Toolchain,
    /// `libv8.so` leaves its debug info out: it goes into wheels (Node's
    /// gyp compiles with -g; 620 of the manylinux build's 713 MB).
    strip_debug_info: bool,
}

/// What compiles and links a profile.
pub enum Toolchain {
    /// Debian's clang-19 and the system's glibc and libstdc++.
    Clang,
    /// zig's clang 19 for a glibc as old as this (headers and symbol
    /// versions), zig's libc++ linked statically (see `zig.rs`).
    Zig { glibc: &'static str },
}

/// ICU for `--with-intl=full-icu`: Debian's source of the ICU that
/// Debian's libnode uses (72.1), built into V8 by Node's gyp files.
const ICU_SOURCE: &str = "icu=72.1-3+deb12u1";
const ICU_DSC: &str = "icu_72.1-3+deb12u1.dsc";
const ICU_TARBALL: &str = "icu_72.1.orig.tar.gz";
/// ICU's gyp targets (Node's tools/icu/icu-generic.gyp) V8 links.
const ICU_TARGETS: &[&str] = &["icui18n", "icuuc", "icudata"];

/// Node 18's gyp files add the arm64 simulator's trap handler (its
/// `ProbeMemory` and the POSIX signal handler, which `trap-handler.h`
/// requires for an arm64 target on an x64 Linux host) only to a *host*
/// toolset build; ours is a target build on an x64 host, so the link of
/// `mksnapshot` failed without them ("undefined reference to `ProbeMemory'").
const SIMULATOR_TRAP_HANDLER: &[(&str, &str, &str)] = &[
    (
        "tools/v8_gypfiles/v8.gyp",
        "'(_toolset==\"host\" and host_arch==\"x64\" and (host_os==\"linux\" or host_os==\"mac\"))'",
        "'(host_arch==\"x64\" and (host_os==\"linux\" or host_os==\"mac\"))'",
    ),
    (
        "tools/v8_gypfiles/v8.gyp",
        "['_toolset==\"host\" and host_arch==\"x64\" and '\n                 '(host_os==\"linux\"",
        "['host_arch==\"x64\" and '\n                 '(host_os==\"linux\"",
    ),
];

pub const PROFILES: &[Profile] = &[
    Profile {
        name: "asan-cov",
        what:
            "ASan + libFuzzer coverage counters (-fsanitize=fuzzer-no-link): fuzzers see V8's edges",
        // -O1 is what OSS-Fuzz builds with: sanitizer builds spend their time
        // in the checks, and -O1 compiles faster than Node's -O3.
        cflags: "-fsanitize=address,fuzzer-no-link -O1 -gline-tables-only",
        ldflags: "-fsanitize=address",
        intl: "system-icu",
        gyp_defines: "",
        cxxflags: "",
        msan_libcxx: false,
        source_patches: &[],
        toolchain: Toolchain::Clang,
        strip_debug_info: false,
    },
    Profile {
        name: "msan",
        what: "MemorySanitizer with origins, MSan libc++, no Intl, JIT code run by V8's arm64 simulator",
        // Every byte must be written by instrumented code: libc++ is ours
        // (libstdc++'s extern templates run uninstrumented), ICU is left out,
        // and V8 generates arm64 code that its simulator (C++, instrumented)
        // runs, as Chromium's MSan builds do — native x64 builtins and JIT
        // code would write memory MSan never sees.
        // MEMORY_SANITIZER is the define Chromium's build gives MSan
        // builds; V8 checks it, not the compiler's feature test, before
        // inline assembly MSan cannot see (`rep stos` in MemsetPointer left
        // the string table "uninitialised" for mksnapshot) and around the
        // snapshot's padding. -fno-sanitize-memory-param-retval: clang 16
        // made passing an uninitialised argument an error at the call;
        // V8 10.2's arm64 simulator passes all 20 possible arguments of a
        // runtime call, read from its uninitialised stack, and would be
        // reported on every call (16 reports in the first real MSan run).
        cflags: "-fsanitize=memory -fsanitize-memory-track-origins -fno-sanitize-memory-param-retval -DMEMORY_SANITIZER -fno-omit-frame-pointer -O1 -gline-tables-only -nostdinc++ -isystem {libcxx}/include/c++/v1 -stdlib=libc++",
        ldflags: "-fsanitize=memory -stdlib=libc++ -L{libcxx}/lib -Wl,-rpath,{libcxx}/lib",
        intl: "none",
        gyp_defines: "v8_target_arch=arm64",
        // V8 10.2's inspector (part of V8's base library in Node's gyp
        // files, --without-inspector or not) keeps UTF-16 in
        // std::basic_string<uint16_t>, whose traits libc++ 19 dropped.
        cxxflags: "-include {compat}/char_traits_uint16.h",
        msan_libcxx: true,
        source_patches: SIMULATOR_TRAP_HANDLER,
        toolchain: Toolchain::Clang,
        strip_debug_info: false,
    },
    Profile {
        name: "release",
        what: "plain, as Debian builds it (a reproducible self-built V8)",
        cflags: "-gline-tables-only",
        ldflags: "",
        intl: "system-icu",
        gyp_defines: "",
        cxxflags: "",
        msan_libcxx: false,
        source_patches: &[],
        toolchain: Toolchain::Clang,
        strip_debug_info: false,
    },
    Profile {
        name: "manylinux",
        what: "for manylinux_2_28 wheels: zig c++ for glibc 2.28, its libc++ linked statically, full ICU 72 built in",
        cflags: "",
        ldflags: "",
        intl: "full-icu",
        gyp_defines: "",
        // zig's libc++ is LLVM 19's (see the msan profile).
        cxxflags: "-include {compat}/char_traits_uint16.h",
        msan_libcxx: false,
        source_patches: &[],
        toolchain: Toolchain::Zig { glibc: "2.28" },
        strip_debug_info: true,
    },
];

pub fn profile(name: &str) -> Result<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name).with_context(|| {
        let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
        format!("unknown V8 profile `{name}`; one of: {}", names.join(", "))
    })
}

fn prefix_of(cache: &Path, profile: &Profile) -> PathBuf {
    cache.join("prefix").join(profile.name)
}

/// Build-only headers (`{compat}` in a profile's flags).
const COMPAT_HEADERS: &[(&str, &str)] =
    &[("char_traits_uint16.h", include_str!("char_traits_uint16.h"))];

/// A profile's flags with `{libcxx}` and `{compat}` filled in.
struct Flags {
    cflags: String,
    cxxflags: String,
    ldflags: String,
}

impl Flags {
    fn of(profile: &Profile, libcxx: Option<&Path>, compat: &Path) -> Flags {
        let fill = |flags: &str| {
            let flags = flags.replace("{compat}", &compat.display().to_string());
            match libcxx {
                Some(dir) => flags.replace("{libcxx}", &dir.display().to_string()),
                None => flags,
            }
        };
        Flags {
            cflags: fill(profile.cflags),
            cxxflags: fill(&format!("{} {}", profile.cflags, profile.cxxflags)),
            ldflags: fill(profile.ldflags),
        }
    }
}

/// `<cache>/compat/` with COMPAT_HEADERS, as this xtask has them.
fn write_compat_headers(cache: &Path) -> Result<PathBuf> {
    let dir = cache.join("compat");
    std::fs::create_dir_all(&dir)?;
    for (name, text) in COMPAT_HEADERS {
        let path = dir.join(name);
        // Rewritten only when changed: its time stamp would make ninja
        // rebuild every file.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(*text) {
            std::fs::write(&path, text)?;
        }
    }
    Ok(dir)
}

/// The finished prefix of a profile, if the cache has one.
pub fn cached_prefix(profile_name: &str) -> Option<PathBuf> {
    let prefix = prefix_of(&cache_dir().ok()?, profile(profile_name).ok()?);
    prefix.join(COMPLETE_MARK).is_file().then_some(prefix)
}

pub fn build(profile_name: &str, jobs: u32) -> Result<()> {
    let profile = profile(profile_name)?;
    let cache = cache_dir()?;
    eprintln!(
        "xtask v8: building profile `{}` ({}) in {}",
        profile.name,
        profile.what,
        cache.display()
    );
    ensure_build_packages()?;
    let started = Instant::now();
    let libcxx = if profile.msan_libcxx {
        Some(libcxx::msan_libcxx(&cache, jobs)?)
    } else {
        None
    };
    let compat = write_compat_headers(&cache)?;
    let mut flags = Flags::of(profile, libcxx.as_deref(), &compat);
    let compilers = match profile.toolchain {
        Toolchain::Clang => Compilers {
            cc: CLANG.into(),
            cxx: CLANGXX.into(),
        },
        Toolchain::Zig { glibc } => {
            let zig = zig::toolchain(&cache, glibc)?;
            let stubs = zig::empty_system_libraries(&cache)?;
            flags.ldflags = format!("{} -L{}", flags.ldflags, stubs.display());
            Compilers {
                cc: zig.cc.display().to_string(),
                cxx: zig.cxx.display().to_string(),
            }
        }
    };
    let icu_source = if profile.intl == "full-icu" {
        apt_source(&cache, ICU_SOURCE, ICU_DSC)?;
        Some(cache.join("sources").join(ICU_TARBALL))
    } else {
        None
    };
    let dsc = apt_source(&cache, NODE_SOURCE, NODE_DSC)?;
    let tree = extract(&cache, profile, &dsc)?;
    patch_sources(&tree, profile)?;
    configure(&tree, profile, &flags, &compilers, icu_source.as_deref())?;
    let mut targets = V8_TARGETS.to_vec();
    if icu_source.is_some() {
        targets.extend(ICU_TARGETS);
    }
    ninja::ninja(
        &[],
        &tree.join("out/Release"),
        jobs,
        &targets,
        &cache.join(format!("build-{}.log", profile.name)),
    )?;
    let prefix = install(
        &tree,
        profile,
        &flags,
        &compilers,
        libcxx.as_deref(),
        &prefix_of(&cache, profile),
    )?;
    eprintln!(
        "xtask v8: done in {}; use it with\n  V8CAGE_V8_DIR={}",
        ninja::human(started.elapsed()),
        prefix.display()
    );
    Ok(())
}

fn ensure_build_packages() -> Result<()> {
    ensure_packages(BUILD_PACKAGES, "building V8 needs them")
}

/// An apt configuration of our own (a `deb-src` list and package lists in
/// the cache), so the machine's sources stay as they are.
fn private_apt(cache: &Path) -> Result<Vec<String>> {
    let apt = cache.join("apt");
    std::fs::create_dir_all(apt.join("lists/partial"))?;
    let list = apt.join("sources.list");
    std::fs::write(&list, DEB_SRC_LINES)?;
    Ok(vec![
        format!("-oDir::Etc::SourceList={}", list.display()),
        "-oDir::Etc::SourceParts=/dev/null".into(),
        format!("-oDir::State::Lists={}", apt.join("lists").display()),
        // Our own lists need no lock on the system's.
        "-oDebug::NoLocking=1".into(),
        // The cache belongs to the caller, whom apt's `_apt` user cannot
        // write for; downloads are checked against the signed index anyway.
        "-oAPT::Sandbox::User=root".into(),
    ])
}

/// A source package (`name=version`: orig tarballs, Debian's changes,
/// `.dsc`) in `<cache>/sources/`, fetched once; apt checks the files
/// against the signed index. Returns the `.dsc`.
pub(crate) fn apt_source(cache: &Path, package: &str, dsc_name: &str) -> Result<PathBuf> {
    let sources = cache.join("sources");
    let dsc = sources.join(dsc_name);
    if dsc.is_file() {
        return Ok(dsc);
    }
    // Into a directory of its own first: only complete downloads count.
    let partial = cache.join("sources.partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    let apt = private_apt(cache)?;
    run(Command::new("apt-get").args(&apt).arg("update"))?;
    run(Command::new("apt-get")
        .args(&apt)
        .args(["source", "--download-only", package])
        .current_dir(&partial))?;
    if !partial.join(dsc_name).is_file() {
        bail!("apt-get source left no {dsc_name} in {}", partial.display());
    }
    std::fs::create_dir_all(&sources)?;
    for entry in std::fs::read_dir(&partial)? {
        let entry = entry?;
        std::fs::rename(entry.path(), sources.join(entry.file_name()))?;
    }
    std::fs::remove_dir(&partial)?;
    Ok(dsc)
}

/// The unpacked, patched source tree of a profile (one per profile: Node's
/// configure writes its output inside the tree).
fn extract(cache: &Path, profile: &Profile, dsc: &Path) -> Result<PathBuf> {
    let tree = cache.join("build").join(profile.name);
    if tree.join("deps/v8/include/v8.h").is_file() {
        return Ok(tree);
    }
    let partial = cache
        .join("build")
        .join(format!("{}.partial", profile.name));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(cache.join("build"))?;
    run(Command::new("dpkg-source").arg("-x").arg(dsc).arg(&partial))?;
    std::fs::rename(&partial, &tree)?;
    Ok(tree)
}

/// The profile's source edits; applying them again changes nothing.
fn patch_sources(tree: &Path, profile: &Profile) -> Result<()> {
    for (file, text, replacement) in profile.source_patches {
        patch_file(&tree.join(file), text, replacement)?;
    }
    Ok(())
}

/// The C and C++ compilers of a build, as commands.
struct Compilers {
    cc: String,
    cxx: String,
}

/// Node's configure with Debian's options, only when its inputs changed:
/// a rerun would make ninja rebuild everything.
fn configure(
    tree: &Path,
    profile: &Profile,
    flags: &Flags,
    compilers: &Compilers,
    icu_source: Option<&Path>,
) -> Result<()> {
    let env: BTreeMap<&str, &str> = [
        ("CC", compilers.cc.as_str()),
        ("CXX", compilers.cxx.as_str()),
        ("CFLAGS", flags.cflags.as_str()),
        ("CXXFLAGS", flags.cxxflags.as_str()),
        ("LDFLAGS", flags.ldflags.as_str()),
        ("GYP_DEFINES", profile.gyp_defines),
    ]
    .into();
    let intl = format!("--with-intl={}", profile.intl);
    let mut args = vec![
        "configure.py",
        "--ninja",
        "--shared",
        "--shared-zlib",
        "--shared-cares",
        "--shared-nghttp2",
        "--shared-brotli",
        "--shared-openssl",
        "--shared-libuv",
        &intl,
        "--without-npm",
        "--without-corepack",
    ];
    let icu_arg = icu_source.map(|path| format!("--with-icu-source={}", path.display()));
    if let Some(arg) = &icu_arg {
        args.push(arg);
    }
    let stamp = tree.join("v8cage-configure.txt");
    // Patches join the stamp only where there are some: the stamps of
    // builds made before patches existed stay valid.
    let wanted = if profile.source_patches.is_empty() {
        format!("{env:?} {args:?}\n")
    } else {
        format!("{env:?} {args:?} {:?}\n", profile.source_patches)
    };
    if tree.join("out/Release/build.ninja").is_file()
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted)
    {
        return Ok(());
    }
    let mut cmd = Command::new("python3");
    cmd.args(&args).current_dir(tree);
    // CC_host must equal CC (unset, it does): with a separate host
    // toolchain gyp writes two rules for torque's outputs ("multiple rules
    // generate gen/torque-generated/bit-fields.h").
    cmd.env_remove("CC_host").env_remove("CXX_host");
    for (key, value) in &env {
        cmd.env(key, value);
    }
    run(&mut cmd)?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

/// The prefix: V8's headers and one `libv8.so` holding V8's archives whole
/// (and for MSan the libc++ it was built with, as `sanitizer-builds/msan.sh`
/// expects it), written beside the prefix and renamed into place, marked
/// complete last.
fn install(
    tree: &Path,
    profile: &Profile,
    flags: &Flags,
    compilers: &Compilers,
    libcxx: Option<&Path>,
    prefix: &Path,
) -> Result<PathBuf> {
    let staging = prefix.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("lib"))?;
    run(Command::new("cp")
        .arg("-r")
        .arg(tree.join("deps/v8/include"))
        .arg(staging.join("include")))?;
    if let Some(libcxx) = libcxx {
        run(Command::new("cp")
            .arg("-r")
            .arg(libcxx.join("include/c++"))
            .arg(staging.join("include/c++")))?;
        // -a keeps libc++.so -> libc++.so.1 as links.
        let mut copy = Command::new("cp");
        copy.arg("-a");
        for entry in std::fs::read_dir(libcxx.join("lib"))? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".so"))
            {
                copy.arg(path);
            }
        }
        run(copy.arg(staging.join("lib")))?;
    }
    let archives = tree.join("out/Release/obj/tools/v8_gypfiles");
    let mut link = Command::new(&compilers.cxx);
    link.args([
        "-shared",
        "-Wl,-soname,libv8.so",
        "-Wl,-rpath,$ORIGIN",
        "-o",
    ])
    .arg(staging.join("lib/libv8.so"))
    .arg("-Wl,--whole-archive");
    for archive in V8_ARCHIVES {
        link.arg(archives.join(archive));
    }
    link.arg("-Wl,--no-whole-archive")
        .args(flags.ldflags.split_whitespace());
    if profile.intl == "system-icu" {
        link.args(["-licui18n", "-licuuc"]);
    }
    if profile.intl == "full-icu" {
        // ICU built by Node's gyp files: the libraries and the data.
        let icu = tree.join("out/Release/obj/tools/icu");
        for target in ["icui18n", "icuucx", "icudata"] {
            link.arg(icu.join(format!("lib{target}.a")));
        }
    }
    link.args(["-pthread", "-ldl", "-lm"]);
    if profile.strip_debug_info {
        link.arg("-Wl,--strip-debug");
    }
    run(&mut link)?;
    std::fs::write(
        staging.join(COMPLETE_MARK),
        format!(
            "V8 10.2.154.26 from Debian's {NODE_SOURCE}, profile {}: {}\nflags: {}\n",
            profile.name, profile.what, flags.cflags
        ),
    )?;
    let _ = std::fs::remove_dir_all(prefix);
    std::fs::rename(&staging, prefix)?;
    Ok(prefix.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msan_flags_name_its_libcxx_and_the_traits_header_for_cxx_only() {
        let flags = Flags::of(
            profile("msan").unwrap(),
            Some(Path::new("/cache/libcxx-msan")),
            Path::new("/cache/compat"),
        );
        assert!(flags
            .cflags
            .contains("-isystem /cache/libcxx-msan/include/c++/v1"));
        assert!(!flags.cflags.contains("char_traits_uint16.h"));
        assert!(flags
            .cxxflags
            .contains("-include /cache/compat/char_traits_uint16.h"));
        assert!(flags.ldflags.contains("-L/cache/libcxx-msan/lib"));
        assert!(!format!("{}{}", flags.cxxflags, flags.ldflags).contains('{'));
    }

    #[test]
    fn every_profile_is_found_by_name() {
        for p in PROFILES {
            assert_eq!(profile(p.name).unwrap().name, p.name);
        }
        assert!(profile("nope").is_err());
    }
}
