//! `cargo xtask v8 build <profile>`: the current V8 (15.2.124.1), built by
//! V8's own GN + ninja from the sources the crates.io `v8` crate ships
//! (V8 plus Chromium's `build/`, `buildtools/` and `third_party/`), with
//! Debian sid's clang 23 (its bundled libc++ needs clang >= 21; bookworm has
//! 19) in a debootstrapped sid userland, against a Debian 11 sysroot so that
//! what it makes runs on glibc 2.31 and later. Rust inside V8 is off (no
//! `Temporal`, the one feature that needs it). ICU 78's data comes from
//! Debian forky's ICU source. Facts behind each choice: `../shared/V8-ROUTES.md`.
//!
//! Layout in the cache (`$V8CAGE_CACHE`, default `~/.cache/v8cage`):
//! `sid-root/` (the compiler's userland), `sysroot-bullseye/`, `src/v8-<crate>/`
//! (the patched tree, shared by every profile), `gn-build/<profile>/` (ninja
//! resumes there) and `prefix/v8-15.2/<profile>/`, the finished prefix for
//! `V8CAGE_V8_DIR`: `include/` (V8's headers, `v8-gn.h` with the build's
//! defines, libc++'s headers in `c++/v1`), `lib/libv8.so` and `lib/libc++.so`,
//! `bin/clang++` (sid's clang, which those headers need) and a stamp with
//! the checksums of the libraries, checked before a prefix is used.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use crate::ninja;

mod prefix;

use devtools::cmd::run;
use prefix::{install, verify_prefix};
pub use prefix::{sysroot_toolchain, SysrootToolchain, SYSROOT_GLIBC};

/// The crate whose `.crate` file carries the sources, and its checksum as
/// the crates.io index records it.
const CRATE_VERSION: &str = "152.2.0";
const CRATE_SHA256: &str = "a10fe1a92da5c32c7c7f838ce36c0ccfcfd5edf0865b58bdde820aa64cea9888";
pub const V8_VERSION: &str = "15.2.124.1";
/// Major.minor, as folder names carry it (`prefix/v8-15.2/`).
pub const V8_MINOR: &str = "15.2";
/// ICU's data for the ICU 78 sources in the crate (the crate leaves
/// `icudtl.dat` out): Debian forky's upstream tarball, checked.
const ICU_TARBALL_URL: &str = "http://deb.debian.org/debian/pool/main/i/icu/icu_78.3.orig.tar.gz";
const ICU_TARBALL_SHA256: &str = "3a2e7a47604ba702f345878308e6fefeca612ee895cf4a5f222e7955fabfe0c0";
const ICU_DATA_MEMBER: &str = "icu/source/data/in/icudt78l.dat";
const MIRROR: &str = "http://deb.debian.org/debian";
/// sid's compiler and build tools (gn: sid's `generate-ninja`, the first
/// Debian gn new enough for V8 15.2's build files).
const SID_PACKAGES: &str =
    "clang-23,lld-23,llvm-23,libclang-rt-23-dev,generate-ninja,ninja-build,python3";
const CLANG_MAJOR: &str = "23";
/// The C library V8 is linked against: Debian 11's glibc 2.31 (Debian 10,
/// glibc 2.28, is no longer on the Debian mirror).
const SYSROOT_PACKAGES: &str = "libc6-dev,libgcc-10-dev,linux-libc-dev";
/// Written last into a finished directory (userland, tree, prefix).
const DONE_MARK: &str = ".v8cage-complete";

/// A way to build the current V8: GN arguments on top of [`COMMON_ARGS`].
pub struct Profile {
    pub name: &'static str,
    what: &'static str,
    args: &'static str,
}

/// Every profile's GN arguments. libc++ is Chromium's, as a shared library
/// beside libv8.so: the shim compiles against the same headers and links the
/// same copy. V8's public API (and, by a patch, libplatform's) is exported
/// from one `libv8.so`. Every profile has pointer compression and the V8
/// sandbox (fuzz and ship the same V8), and ICU with its data built in.
/// The host process keeps its own allocator: Chromium's defaults would make
/// libv8.so export `malloc` and `operator new` (PartitionAlloc through its
/// allocator shim), taking over every allocation of a program that links it
/// and hiding the shim's heap from ASan and TSan.
const COMMON_ARGS: &str = r#"is_debug = false
is_component_build = false
clang_base_path = "/usr/lib/llvm-23"
clang_version = "23"
clang_use_chrome_plugins = false
use_clang_modules = false
use_lld = true
use_sysroot = true
use_glib = false
treat_warnings_as_errors = false
target_cpu = "x64"
enable_rust = false
enable_rust_cxx = false
v8_enable_temporal_support = false
use_custom_libcxx = true
libcxx_is_shared = true
v8_expose_public_symbols = true
v8_monolithic_for_shared_library = true
v8_use_external_startup_data = false
v8_embedder_string = "-v8cage"
v8_enable_pointer_compression = true
v8_enable_sandbox = true
v8_enable_external_code_space = true
v8_enable_i18n_support = true
icu_use_data_file = false
use_partition_alloc_as_malloc = false
use_allocator_shim = false
enable_backup_ref_ptr_support = false
"#;

pub const PROFILES: &[Profile] = &[
    Profile {
        name: "release",
        what: "what wheels and benchmarks ship: pointer compression and the V8 sandbox on, full ICU built in, no debug info",
        args: r#"symbol_level = 0
"#,
    },
    Profile {
        name: "asan-cov",
        what: "ASan + libFuzzer coverage counters (use_libfuzzer: -fsanitize=fuzzer-no-link), the sandbox on: fuzzers see V8's edges",
        args: r#"symbol_level = 1
is_asan = true
use_libfuzzer = true
"#,
    },
    Profile {
        name: "fuzzilli",
        what: "for Fuzzilli (cargo xtask fuzzilli build --v8): trace-pc-guard edges in V8, DCHECKs, heap verification and V8's memory-corruption API for sandbox testing, as Fuzzilli's own V8 build",
        args: r#"symbol_level = 1
sanitizer_coverage_flags = "trace-pc-guard"
dcheck_always_on = true
v8_enable_verify_heap = true
v8_enable_memory_corruption_api = true
"#,
    },
    Profile {
        name: "msan",
        what: "MemorySanitizer with origins; ICU and libc++ built from source, so instrumented too; argument shadow through TLS (no eager checks), as the shim and the Rust side pass it",
        args: r#"symbol_level = 1
is_msan = true
msan_track_origins = 2
msan_eager_checks = false
"#,
    },
];

pub fn profile(name: &str) -> Result<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name).with_context(|| {
        let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
        format!("unknown V8 profile `{name}`; one of: {}", names.join(", "))
    })
}

/// The tree's edits: (file, text, replacement), each text found once, or
/// already replaced.
const SOURCE_PATCHES: &[(&str, &str, &str)] = &[(
    // libplatform's API is exported only in component builds; ours is one
    // libv8.so, and the shim needs NewDefaultPlatform from it.
    "v8/include/libplatform/libplatform-export.h",
    "#if defined(BUILDING_V8_PLATFORM_SHARED) || USING_V8_PLATFORM_SHARED\n",
    "#if 1  // v8cage: libv8.so exports libplatform's API too\n",
)];

/// `//v8cage/BUILD.gn`, written into the tree: the one library we link.
const V8CAGE_BUILD_GN: &str = r#"# Written by v8cage's xtask: libv8.so, the one shared library the shim links.
import("//build/config/sanitizers/sanitizers.gni")

shared_library("v8") {
  # libc++.so lies beside it.
  ldflags = [ "-Wl,-rpath,\$ORIGIN" ]
  deps = [
    ":icu_memory_export",
    ":sandbox_warm_up_export",
    "//v8:v8",
    "//v8:v8_libbase",
    "//v8:v8_libplatform",
  ]
  if (is_asan) {
    deps += [ ":asan_report_fallback" ]
  }
}

# ASan report accessors newer than the ASan runtime a Rust fuzz binary
# carries (core/shim/libv8/asan_report_fallback.cc); weak.
source_set("asan_report_fallback") {
  sources = [ "asan_report_fallback.cc" ]
}

# The built-in ICU's u_setMemoryFunctions under a visible name
# (core/shim/libv8/). A dependency of its own: ICU's defines stay out of
# the ones an embedder compiles with.
source_set("icu_memory_export") {
  sources = [ "icu_memory_export.cc" ]
  deps = [ "//third_party/icu" ]
}

# What the library reads from files lazily, read on request (a process
# worker's seccomp filter refuses opens later).
source_set("sandbox_warm_up_export") {
  sources = [ "sandbox_warm_up_export.cc" ]
  deps = [ "//third_party/abseil-cpp:absl" ]
}
"#;
/// Built into libv8.so beside V8 (`V8CAGE_BUILD_GN`).
const ICU_MEMORY_EXPORT: &str = include_str!("../../../core/shim/libv8/icu_memory_export.cc");
const SANDBOX_WARM_UP_EXPORT: &str =
    include_str!("../../../core/shim/libv8/sandbox_warm_up_export.cc");
const ASAN_REPORT_FALLBACK: &str = include_str!("../../../core/shim/libv8/asan_report_fallback.cc");

/// `//third_party/instrumented_libs`, which MSan builds name (also for
/// running torque and mksnapshot): empty, the system's libraries serve.
const INSTRUMENTED_LIBS_STUB: &str = "# Written by v8cage's xtask: V8 links no instrumented system library.\ngroup(\"deps\") {\n}\nconfig(\"prebuilt_ldflags\") {\n}\nconfig(\"locally_built_ldflags\") {\n}\nconfig(\"msan_runtime_libs\") {\n}\ngroup(\"ld-linux\") {\n}\n";

/// Appended to the root BUILD.gn: GN loads only build files the root names.
const ROOT_GROUP: &str =
    "\n# v8cage: load //v8cage (libv8.so for the shim).\ngroup(\"v8cage\") {\n  deps = [ \"//v8cage:v8\" ]\n}\n";

/// Where one profile's pieces live.
struct Layout {
    cache: PathBuf,
}

impl Layout {
    fn sid_root(&self) -> PathBuf {
        self.cache.join("sid-root")
    }
    fn sysroot(&self) -> PathBuf {
        self.cache.join("sysroot-bullseye")
    }
    fn sources(&self) -> PathBuf {
        self.cache.join("src")
    }
    fn tree(&self) -> PathBuf {
        self.sources().join(format!("v8-{CRATE_VERSION}"))
    }
    fn builds(&self) -> PathBuf {
        self.cache.join("gn-build")
    }
    fn out(&self, profile: &Profile) -> PathBuf {
        self.builds().join(profile.name)
    }
    fn prefix(&self, profile: &Profile) -> PathBuf {
        self.cache
            .join(format!("prefix/v8-{V8_MINOR}"))
            .join(profile.name)
    }
}

/// The finished prefix of a profile, if the cache has one whose libraries
/// still match their recorded checksums.
pub fn cached_prefix(profile_name: &str) -> Option<PathBuf> {
    let layout = Layout {
        cache: super::cache_dir().ok()?,
    };
    let prefix = layout.prefix(profile(profile_name).ok()?);
    verify_prefix(&prefix).ok().map(|()| prefix)
}

pub fn build(profile_name: &str, jobs: u32, idle: bool) -> Result<()> {
    let profile = profile(profile_name)?;
    let layout = Layout {
        cache: super::cache_dir()?,
    };
    eprintln!(
        "xtask v8: building V8 {V8_VERSION}, profile `{}` ({}) in {}",
        profile.name,
        profile.what,
        layout.cache.display()
    );
    let started = Instant::now();
    if !devtools::cmd::is_root() {
        bail!("building V8 makes a Debian sid userland (debootstrap, chroot, bind mounts): run as root");
    }
    ensure_host_tools()?;
    debian_userland(&layout.sid_root(), "sid", SID_PACKAGES)?;
    prepare_clang_runtime(&layout.sid_root())?;
    debian_userland(&layout.sysroot(), "bullseye", SYSROOT_PACKAGES)?;
    relativize_links(&layout.sysroot(), &layout.sysroot())?;
    source_tree(&layout)?;
    patch_tree(&layout.tree(), &layout.sysroot())?;
    let out = layout.out(profile);
    std::fs::create_dir_all(&out)?;
    mount_into_chroot(&layout)?;
    gn_gen(&layout, profile)?;
    let mut launcher: Vec<OsString> = Vec::new();
    if idle {
        // Behind every other job: the lowest CPU priority and idle I/O.
        launcher.extend(["nice", "-n", "19", "ionice", "-c", "3"].map(OsString::from));
    }
    launcher.push("chroot".into());
    launcher.push(layout.sid_root().into_os_string());
    // The build's own tools (torque, mksnapshot...) link the shared
    // libc++.so in the output directory, and only component builds give
    // them an rpath to it.
    launcher.push("env".into());
    launcher.push(format!("LD_LIBRARY_PATH={}", out.display()).into());
    ninja::ninja(
        &launcher,
        &out,
        jobs,
        &["v8cage"],
        &layout.builds().join(format!("{}.log", profile.name)),
    )?;
    let prefix = install(&layout, profile)?;
    eprintln!(
        "xtask v8: V8 {V8_VERSION} `{}` done in {}; use it with\n  V8CAGE_V8_DIR={}",
        profile.name,
        ninja::human(started.elapsed()),
        prefix.display()
    );
    Ok(())
}

/// debootstrap and curl on the host; each missing one is named with the
/// package that gives it.
fn ensure_host_tools() -> Result<()> {
    super::ensure_packages(
        &["debootstrap", "curl", "xz-utils"],
        "building the current V8 needs them",
    )
}

/// A minimal Debian userland of `suite` with `packages`, made once
/// (debootstrap into a partial directory, renamed when complete).
fn debian_userland(root: &Path, suite: &str, packages: &str) -> Result<()> {
    if root.join(DONE_MARK).is_file() {
        return Ok(());
    }
    let partial = root.with_extension("partial");
    // A half-made userland (interrupted debootstrap) is started over.
    let _ = std::fs::remove_dir_all(&partial);
    run(Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={packages}"), suite])
        .arg(&partial)
        .arg(MIRROR))?;
    std::fs::write(partial.join(DONE_MARK), format!("{suite}: {packages}\n"))?;
    let _ = std::fs::remove_dir_all(root);
    std::fs::rename(&partial, root)?;
    Ok(())
}

/// A sysroot's absolute symbolic links (`/lib64/ld-linux-x86-64.so.2 ->
/// /lib/x86_64-linux-gnu/ld-2.31.so`) point into whatever root the linker
/// runs in; made relative they point inside the sysroot, as the sysroots
/// Chromium ships do. Without it lld cannot follow `libc.so`'s script.
fn relativize_links(root: &Path, dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = path.symlink_metadata()?;
        if meta.is_dir() {
            relativize_links(root, &path)?;
            continue;
        }
        if !meta.file_type().is_symlink() {
            continue;
        }
        let target = std::fs::read_link(&path)?;
        let Ok(inside) = target.strip_prefix("/") else {
            continue;
        };
        let depth = path
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .map_or(0, |p| p.components().count());
        let relative: PathBuf = std::iter::repeat_n(Path::new(".."), depth)
            .collect::<PathBuf>()
            .join(inside);
        std::fs::remove_file(&path)?;
        std::os::unix::fs::symlink(&relative, &path)?;
    }
    Ok(())
}

/// Debian installs clang's runtime libraries as `lib/linux/libclang_rt.X-x86_64.a`;
/// Chromium's build asks for `lib/x86_64-unknown-linux-gnu/libclang_rt.X.a`.
/// Also `python` for GN's scripts (sid has only `python3`).
fn prepare_clang_runtime(sid: &Path) -> Result<()> {
    let lib = sid.join(format!(
        "usr/lib/llvm-{CLANG_MAJOR}/lib/clang/{CLANG_MAJOR}/lib"
    ));
    let triple_dir = lib.join("x86_64-unknown-linux-gnu");
    std::fs::create_dir_all(&triple_dir)?;
    for entry in std::fs::read_dir(lib.join("linux"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(short) = name
            .contains("-x86_64")
            .then(|| name.replacen("-x86_64", "", 1))
        else {
            continue;
        };
        let link = triple_dir.join(short);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(format!("../linux/{name}"), link)?;
        }
    }
    let python = sid.join("usr/bin/python");
    if python.symlink_metadata().is_err() {
        std::os::unix::fs::symlink("python3", python)?;
    }
    Ok(())
}

/// Downloads `url` into `dest` unless it is there with `sha256`; a file
/// with another checksum is an error (never used).
fn download_checked(url: &str, sha256: &str, dest: &Path) -> Result<()> {
    if dest.is_file() && sha256_of(dest)? == sha256 {
        return Ok(());
    }
    let partial = dest.with_extension("partial");
    run(Command::new("curl")
        .args(["-sSfL", "-o"])
        .arg(&partial)
        .arg(url))?;
    let got = sha256_of(&partial)?;
    if got != sha256 {
        bail!("{url}: sha256 {got}, expected {sha256}");
    }
    std::fs::rename(&partial, dest)?;
    Ok(())
}

fn sha256_of(path: &Path) -> Result<String> {
    use sha2::Digest as _;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// `<cache>/src/v8-<version>.crate`, downloaded from crates.io once and
/// checked against the index's checksum.
pub fn crate_file(cache: &Path) -> Result<PathBuf> {
    let sources = cache.join("src");
    std::fs::create_dir_all(&sources)?;
    let file = sources.join(format!("v8-{CRATE_VERSION}.crate"));
    download_checked(
        &format!("https://static.crates.io/crates/v8/v8-{CRATE_VERSION}.crate"),
        CRATE_SHA256,
        &file,
    )?;
    Ok(file)
}

/// The crate's sources unpacked, with ICU's data, made once.
fn source_tree(layout: &Layout) -> Result<()> {
    let tree = layout.tree();
    if tree.join(DONE_MARK).is_file() {
        return Ok(());
    }
    let sources = layout.sources();
    let crate_file = crate_file(&layout.cache)?;
    let icu = sources.join("icu_78.3.orig.tar.gz");
    download_checked(ICU_TARBALL_URL, ICU_TARBALL_SHA256, &icu)?;
    let partial = sources.join("unpacking");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    run(Command::new("tar")
        .arg("xzf")
        .arg(&crate_file)
        .arg("-C")
        .arg(&partial))?;
    let unpacked = partial.join(format!("v8-{CRATE_VERSION}"));
    run(Command::new("tar")
        .arg("xzf")
        .arg(&icu)
        .arg("-C")
        .arg(&partial)
        .arg(ICU_DATA_MEMBER))?;
    std::fs::create_dir_all(unpacked.join("third_party/icu/common"))?;
    std::fs::rename(
        partial.join(ICU_DATA_MEMBER),
        unpacked.join("third_party/icu/common/icudtl.dat"),
    )?;
    std::fs::write(
        unpacked.join(DONE_MARK),
        format!("v8 crate {CRATE_VERSION} (V8 {V8_VERSION}) with ICU's data\n"),
    )?;
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::rename(&unpacked, &tree)?;
    std::fs::remove_dir_all(&partial)?;
    Ok(())
}

/// Our edits and build files, on every run (what this xtask says wins);
/// files are written only when they change, so ninja rebuilds only what
/// depends on them.
fn patch_tree(tree: &Path, sysroot: &Path) -> Result<()> {
    for (file, text, replacement) in SOURCE_PATCHES {
        super::patch_file(&tree.join(file), text, replacement)?;
    }
    std::fs::create_dir_all(tree.join("v8cage"))?;
    write_if_changed(&tree.join("v8cage/BUILD.gn"), V8CAGE_BUILD_GN)?;
    write_if_changed(&tree.join("v8cage/icu_memory_export.cc"), ICU_MEMORY_EXPORT)?;
    write_if_changed(
        &tree.join("v8cage/sandbox_warm_up_export.cc"),
        SANDBOX_WARM_UP_EXPORT,
    )?;
    write_if_changed(
        &tree.join("v8cage/asan_report_fallback.cc"),
        ASAN_REPORT_FALLBACK,
    )?;
    // What an MSan build of Chromium's tree expects and the crate leaves
    // out: the instrumented system libraries (V8 needs none of them) and
    // MSan's ignore list (nothing to ignore).
    std::fs::create_dir_all(tree.join("third_party/instrumented_libs"))?;
    write_if_changed(
        &tree.join("third_party/instrumented_libs/BUILD.gn"),
        INSTRUMENTED_LIBS_STUB,
    )?;
    std::fs::create_dir_all(tree.join("tools/msan"))?;
    write_if_changed(
        &tree.join("tools/msan/ignorelist.txt"),
        "# v8cage: nothing is ignored.\n",
    )?;
    let root_build = tree.join("BUILD.gn");
    let text = std::fs::read_to_string(&root_build)?;
    if !text.contains(ROOT_GROUP) {
        std::fs::write(&root_build, text + ROOT_GROUP)?;
    }
    // Chromium's default sysroot location for x64 Linux.
    let link = tree.join("build/linux/debian_bullseye_amd64-sysroot");
    if std::fs::read_link(&link).ok().as_deref() != Some(sysroot) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(sysroot, link)?;
    }
    Ok(())
}

fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The tree, the build directories and the sysroot appear inside the sid
/// userland at the same absolute paths, so paths mean the same inside and
/// out. Bind mounts left from an earlier run are reused.
fn mount_into_chroot(layout: &Layout) -> Result<()> {
    let root = layout.sid_root();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounted = |path: &Path| {
        let path = path.display().to_string();
        mounts
            .lines()
            .any(|line| line.split(' ').nth(4) == Some(path.as_str()))
    };
    for dir in [layout.sources(), layout.builds(), layout.sysroot()] {
        let inside = root.join(dir.strip_prefix("/").unwrap_or(&dir));
        std::fs::create_dir_all(&inside)?;
        if !mounted(&inside) {
            run(Command::new("mount").arg("--bind").arg(&dir).arg(&inside))?;
        }
    }
    let proc_dir = root.join("proc");
    if !mounted(&proc_dir) {
        run(Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(&proc_dir))?;
    }
    let dev = root.join("dev");
    if !mounted(&dev) {
        run(Command::new("mount").arg("--bind").arg("/dev").arg(&dev))?;
    }
    Ok(())
}

fn args_of(profile: &Profile) -> String {
    format!(
        "# v8cage profile `{}`: {}\n{COMMON_ARGS}{}",
        profile.name, profile.what, profile.args
    )
}

fn in_chroot(layout: &Layout, script: &str) -> Command {
    let mut cmd = Command::new("chroot");
    cmd.arg(layout.sid_root()).args(["sh", "-c", script]);
    cmd
}

/// `gn gen` when the arguments changed or nothing was generated yet (GN
/// regenerates by itself when build files change).
fn gn_gen(layout: &Layout, profile: &Profile) -> Result<()> {
    let out = layout.out(profile);
    let args = out.join("args.gn");
    let wanted = args_of(profile);
    if out.join("build.ninja").is_file()
        && std::fs::read_to_string(&args).is_ok_and(|have| have == wanted)
    {
        return Ok(());
    }
    // Written only when changed: ninja rebuilds everything after a new args.gn.
    write_if_changed(&args, &wanted)?;
    run(&mut in_chroot(
        layout,
        &format!("cd {} && gn gen {}", layout.tree().display(), out.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::prefix::{v8_gn_header, with_config_defines};
    use super::*;

    #[test]
    fn every_profile_turns_the_sandbox_on_and_rust_off() {
        for p in PROFILES {
            let args = args_of(p);
            assert!(args.contains("v8_enable_sandbox = true"), "{}", p.name);
            assert!(args.contains("enable_rust = false"), "{}", p.name);
            assert!(
                args.contains("use_partition_alloc_as_malloc = false"),
                "{}",
                p.name
            );
            assert_eq!(profile(p.name).unwrap().name, p.name);
        }
        assert!(profile("manylinux").is_err());
    }

    #[test]
    fn absolute_links_in_a_sysroot_point_inside_it_afterwards() {
        let root = std::env::temp_dir().join(format!("v8cage-sysroot-test-{}", std::process::id()));
        std::fs::create_dir_all(root.join("lib/x86_64-linux-gnu")).unwrap();
        std::fs::create_dir_all(root.join("lib64")).unwrap();
        std::fs::write(root.join("lib/x86_64-linux-gnu/ld-2.31.so"), b"loader").unwrap();
        std::os::unix::fs::symlink(
            "/lib/x86_64-linux-gnu/ld-2.31.so",
            root.join("lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        relativize_links(&root, &root).unwrap();
        let link = root.join("lib64/ld-linux-x86-64.so.2");
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("../lib/x86_64-linux-gnu/ld-2.31.so")
        );
        assert_eq!(std::fs::read(&link).unwrap(), b"loader");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn libcxx_settings_go_inside_the_config_sites_guard() {
        let site = "#ifndef _LIBCPP_CONFIG_SITE\n#define _LIBCPP_CONFIG_SITE\n#endif // _LIBCPP_CONFIG_SITE\n";
        let text = with_config_defines(
            site,
            &["_LIBCPP_HARDENING_MODE=_LIBCPP_HARDENING_MODE_EXTENSIVE".into()],
        )
        .unwrap();
        let define = text
            .find("#define _LIBCPP_HARDENING_MODE _LIBCPP_HARDENING_MODE_EXTENSIVE")
            .unwrap();
        assert!(define < text.rfind("#endif").unwrap());
    }

    #[test]
    fn the_gn_header_defines_each_value_or_one() {
        let text = v8_gn_header(&[
            "V8_ENABLE_SANDBOX".into(),
            "V8_PROMISE_INTERNAL_FIELD_COUNT=1".into(),
        ]);
        assert!(text.contains("#define V8_ENABLE_SANDBOX 1\n"));
        assert!(text.contains("#define V8_PROMISE_INTERNAL_FIELD_COUNT 1\n"));
    }

    #[test]
    fn a_prefix_whose_library_changed_is_refused() {
        let dir = std::env::temp_dir().join(format!("v8cage-prefix-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(dir.join("lib/libv8.so"), b"built").unwrap();
        let sum = sha256_of(&dir.join("lib/libv8.so")).unwrap();
        assert!(verify_prefix(&dir).is_err(), "no stamp: not finished");
        std::fs::write(dir.join(DONE_MARK), format!("V8\n{sum} lib/libv8.so\n")).unwrap();
        verify_prefix(&dir).unwrap();
        std::fs::write(dir.join("lib/libv8.so"), b"truncat").unwrap();
        let err = verify_prefix(&dir).unwrap_err().to_string();
        assert!(err.contains("changed since the build"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
