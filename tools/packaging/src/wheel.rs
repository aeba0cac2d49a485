//! `cargo xtask wheel`: the sdist and a manylinux wheel per V8 and machine,
//! each tested where it is meant to run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use crate::cross::{self, Target, X86_64};
use crate::venv::{ensure_venv, path_with};
use devtools::cmd::run;

/// The tag wheels claim by default. 2_35 is the lowest Debian 12's V8 allows:
/// its ICU needs GLIBCXX_3.4.30 (maturin refuses 2_34).
pub const MANYLINUX: &str = "manylinux_2_35";
/// The oldest tag we build: glibc 2.28, on our own V8 10.2 (`v8 build manylinux`).
pub const MANYLINUX_OWN_V8: &str = "manylinux_2_28";
/// The wheel with the current V8 (`v8 build release`, glibc 2.31).
pub const MANYLINUX_CURRENT_V8: &str = "manylinux_2_31";

/// The smoke test run in a fresh venv with only the wheel installed: it
/// evaluates JS and checks that V8 was loaded from the wheel itself.
const WHEEL_SMOKE_TEST: &str = r#"
import sys, v8cage
with v8cage.Context(timeout=1) as ctx:
    assert ctx.eval("[1, 'a', {b: 2n ** 70n}]") == [1, "a", {"b": 2**70}]
    assert ctx.eval("x => x * 2")(21) == 42
    try:
        ctx.eval("while (true) {}")
        raise SystemExit("no timeout")
    except v8cage.JSTimeoutError:
        pass
    with v8cage.MiniRacer() as mr:
        assert mr.call("Math.max", 1, 5) == 5
# A sandboxed worker started from this venv's interpreter and the wheel's module.
# No tight timeout: under emulation the fatal error takes its time to come.
with v8cage.Context(isolation="process", timeout=300) as caged:
    assert caged.eval("6 * 7") == 42
    report = caged.isolation_report()
    print("isolation report:", report)
    assert report["seccomp"] and report["no_new_privs"] and report["file_limits"]
    try:
        caged.eval("'x'.repeat(2**29 - 24).split('')")
        raise SystemExit("no crash")
    except v8cage.JSCrashedError:
        pass
with v8cage.MiniRacer(isolation="process") as mr:
    assert mr.eval("[1, 2].length") == 2
# Debian's libnode, or our own V8 build's libv8 (manylinux_2_28).
v8_library = [line.split()[-1] for line in open("/proc/self/maps") if "libnode" in line or "libv8" in line]
assert v8_library, "no V8 library is loaded"
# A wheel brings its own V8; a build from the sdist links the one it found.
if sys.argv[1:] == ["bundled"]:
    assert all(path.startswith(sys.prefix) for path in v8_library), f"V8 loaded from outside the venv: {v8_library[0]}"
print("smoke test passed; V8", v8cage.v8_version(), "from", v8_library[0])
"#;

/// Deletes the extension cargo linked in `profile_dir` (and its copy in
/// `deps/`), so the next build links it anew.
fn remove_linked_extension(profile_dir: &Path) -> Result<()> {
    for dir in [profile_dir.to_path_buf(), profile_dir.join("deps")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with("lib_v8cage") && name.ends_with(".so") {
                std::fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}

/// Builds an sdist and a manylinux wheel for `target` (libnode and its
/// libraries bundled, auditwheel-style, by maturin + patchelf), then tests
/// the wheel with no `.deps/` path and no LD_LIBRARY_PATH: a host wheel in a
/// fresh venv (the smoke test; then pip builds the sdist from source in
/// another), another architecture's in a Debian VM of it (the smoke test
/// and the whole Python suite).
/// Prints the wheel's tag and size.
pub fn wheel(root: &Path, manylinux: &str, target: &Target) -> Result<()> {
    let started = Instant::now();
    cross::prepare(root, target)?;
    let own_v8 = own_v8_for(manylinux, target)?;
    let venv = ensure_venv(root)?;
    let bin = venv.join("bin");
    let path = path_with(&bin);
    let out = root.join("target/wheels");
    std::fs::create_dir_all(&out)?;
    // Other platforms' wheels stay; this one's and the sdist go.
    let arch_suffix = format!("-{manylinux}_{}.whl", target.name);
    for entry in std::fs::read_dir(&out)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(&arch_suffix) || name.ends_with(".tar.gz") {
            std::fs::remove_file(&path)?;
        }
    }
    let maturin = |args: &[&str]| {
        run(Command::new(bin.join("maturin"))
            .args(args)
            .args(["--manifest-path", "python/Cargo.toml", "--out"])
            .arg(&out)
            .env("PATH", &path)
            .envs(target.build_env())
            .envs(own_v8.iter().flat_map(OwnV8::build_env))
            .env_remove("RUSTUP_TOOLCHAIN"))
    };
    maturin(&["sdist"])?;
    // `--auditwheel repair` patches the linked extension in place (its
    // libnode dependency renamed to the bundled copy), and cargo would hand
    // that patched file to the next build: a second wheel could not be
    // repaired, and `maturin develop` (py-bench, pytest) would load it. So
    // the wheel builds in a target directory of its own, from a freshly
    // linked extension every time.
    let target_dir = root.join(match own_v8 {
        None => "target/wheel-build".to_string(),
        Some(_) => format!("target/wheel-build-{manylinux}"),
    });
    remove_linked_extension(&target_dir.join(target.rust_triple).join("release"))?;
    maturin(&[
        "build",
        "--release",
        "--target",
        target.rust_triple,
        "--target-dir",
        &target_dir.to_string_lossy(),
        "--compatibility",
        manylinux,
        "--auditwheel",
        "repair",
    ])?;
    let built = started.elapsed();
    let mut wheels = Vec::new();
    let mut sdists = Vec::new();
    for entry in std::fs::read_dir(&out)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if name.ends_with(&arch_suffix) {
            wheels.push(path);
        } else if name.ends_with(".tar.gz") {
            sdists.push(path);
        }
    }
    let [wheel] = wheels.as_slice() else {
        bail!(
            "expected one {} wheel in {}, found {wheels:?}",
            target.name,
            out.display()
        );
    };

    // An independent judge of the tag maturin gave it.
    run(Command::new(bin.join("auditwheel")).arg("show").arg(wheel))?;
    if let Some(own_v8) = &own_v8 {
        let extension = target_dir
            .join(target.rust_triple)
            .join("release/lib_v8cage.so");
        own_v8.check_imports(&extension)?;
    }
    if target.cross_prefix.is_some() {
        test_in_userland(root, wheel, &BOOKWORM, target)?;
    } else if own_v8.is_some() {
        smoke_test_in_fresh_venv(wheel, None)?;
        test_in_userland(root, wheel, &BULLSEYE, target)?;
    } else {
        smoke_test_in_fresh_venv(wheel, None)?;
        let [sdist] = sdists.as_slice() else {
            bail!("expected one sdist in {}, found {sdists:?}", out.display());
        };
        smoke_test_in_fresh_venv(sdist, Some(root))?;
    }

    let size = std::fs::metadata(wheel)?.len();
    let name = wheel.file_name().unwrap_or_default().to_string_lossy();
    let tag = name
        .trim_end_matches(".whl")
        .splitn(3, '-')
        .nth(2)
        .unwrap_or("?")
        .to_string();
    eprintln!("xtask wheel: {}", wheel.display());
    eprintln!(
        "xtask wheel: tag {tag}, {:.1} MiB, built in {:.0} s, built and tested in {:.0} s",
        size as f64 / (1 << 20) as f64,
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for sdist in &sdists {
        eprintln!("xtask wheel: sdist {}", sdist.display());
    }
    Ok(())
}

/// The glibc Debian 12's V8 (libnode, ICU, libstdc++) needs: wheels that
/// claim less are built on our own V8 (`cargo xtask v8 build manylinux`).
const DEBIAN_V8_GLIBC: u32 = 35;

/// Our own V8 for an old glibc, and the toolchain the shim and the
/// extension are then built with, so all three share one glibc floor and
/// one C++ library.
struct OwnV8 {
    prefix: PathBuf,
    cc: PathBuf,
    cxx: PathBuf,
    /// The glibc all three are built for (`2.28`, `2.31`).
    glibc: &'static str,
    /// zig's libc++, linked statically into V8 10.2's build, must be named
    /// to cc; the current V8's prefix carries its own (`lib/libc++.so`),
    /// which core/build.rs links.
    zig_libcxx: bool,
}

impl OwnV8 {
    fn build_env(&self) -> Vec<(String, String)> {
        let mut env = cross::compiler_env(
            X86_64.rust_triple,
            &self.cc.display().to_string(),
            &self.cxx.display().to_string(),
        );
        env.push(("V8CAGE_V8_DIR".into(), self.prefix.display().to_string()));
        if self.zig_libcxx {
            env.push(("CXXSTDLIB".into(), "c++".into()));
        }
        env
    }

    /// zig links against glibc 2.28's symbol lists and leaves a function
    /// that glibc only has later undefined and unversioned (no linker
    /// error in a shared library; auditwheel judges versions only): the
    /// extension then fails to load on 2.28 (`close_range` did, on Debian
    /// 11). So every import of the extension and of the prefix's libraries
    /// must carry a glibc version or be Python's or one of those libraries'
    /// (libv8, and the current V8's libc++).
    fn check_imports(&self, extension: &Path) -> Result<()> {
        let mut bundled = Vec::new();
        for entry in std::fs::read_dir(self.prefix.join("lib"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "so") {
                bundled.push(path);
            }
        }
        let mut provided = std::collections::HashSet::new();
        for library in &bundled {
            provided.extend(dynamic_symbols(library, "--defined-only")?);
        }
        let mut unresolved = std::collections::BTreeSet::new();
        for library in bundled.iter().map(PathBuf::as_path).chain([extension]) {
            unresolved.extend(
                unversioned_imports(library)?
                    .into_iter()
                    .filter(|name| !name.starts_with("Py") && !name.starts_with("_Py"))
                    .filter(|name| !provided.contains(name)),
            );
        }
        if !unresolved.is_empty() {
            bail!(
                "imports no glibc {} provides (too new for this manylinux tag?): {}",
                self.glibc,
                unresolved.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(())
    }
}

/// The names `nm -D <filter>` lists for `library`, as `name` or
/// `name@VERSION`.
fn dynamic_symbols(library: &Path, filter: &str) -> Result<std::collections::HashSet<String>> {
    let out = Command::new("nm")
        .args(["-D", filter])
        .arg(library)
        .output()
        .context("running nm (binutils)")?;
    if !out.status.success() {
        bail!("nm -D {filter} {} failed", library.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Weak imports ("w") may stay unresolved by design.
            match fields.as_slice() {
                [_, kind, name] | [kind, name] if *kind != "w" => Some(name.to_string()),
                _ => None,
            }
        })
        .collect())
}

/// `library`'s strong imports that name no symbol version.
fn unversioned_imports(library: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = dynamic_symbols(library, "--undefined-only")?
        .into_iter()
        .filter(|name| !name.contains('@'))
        .collect();
    names.sort();
    Ok(names)
}

/// `manylinux_2_<N>` -> N.
fn manylinux_glibc(manylinux: &str) -> Result<u32> {
    manylinux
        .strip_prefix("manylinux_2_")
        .and_then(|minor| minor.parse().ok())
        .with_context(|| format!("`{manylinux}` is not a manylinux_2_<N> tag"))
}

/// What a tag below Debian's glibc needs: from `manylinux_2_31` the
/// current V8 (`release` profile, built against glibc 2.31) with sid's
/// clang and the same sysroot; below it V8 10.2's `manylinux` profile
/// (glibc 2.28) with zig for the same glibc.
fn own_v8_for(manylinux: &str, target: &Target) -> Result<Option<OwnV8>> {
    let glibc = manylinux_glibc(manylinux)?;
    if glibc >= DEBIAN_V8_GLIBC {
        return Ok(None);
    }
    if target.cross_prefix.is_some() {
        bail!(
            "{manylinux} wheels are x86_64 only: the aarch64 wheel uses Debian's V8 (glibc 2.35)"
        );
    }
    if glibc >= glibc_minor(v8build::current::SYSROOT_GLIBC)? {
        let Some(prefix) = v8build::current::cached_prefix("release") else {
            bail!(
                "{manylinux} bundles the current V8 {}: `cargo xtask v8 build release --idle` (hours on 2 cores; resumable)",
                v8build::current::V8_VERSION
            );
        };
        let toolchain = v8build::current::sysroot_toolchain()?;
        return Ok(Some(OwnV8 {
            prefix,
            cc: toolchain.cc,
            cxx: toolchain.cxx,
            glibc: v8build::current::SYSROOT_GLIBC,
            zig_libcxx: false,
        }));
    }
    let profile = v8build::profile("manylinux")?;
    let v8build::Toolchain::Zig { glibc: floor } = profile.toolchain else {
        bail!("the manylinux V8 profile is not built by zig");
    };
    if glibc < glibc_minor(floor)? {
        bail!("{manylinux} is below the glibc {floor} our own V8 is built for");
    }
    let Some(prefix) = v8build::cached_prefix("manylinux") else {
        bail!(
            "{manylinux} needs our own V8 for glibc {floor}: `cargo xtask v8 build manylinux` (hours on 2 cores; resumable)"
        );
    };
    let zig = v8build::zig::toolchain(&v8build::cache_dir()?, floor)?;
    Ok(Some(OwnV8 {
        prefix,
        cc: zig.cc,
        cxx: zig.cxx,
        glibc: floor,
        zig_libcxx: true,
    }))
}

/// `2.<N>` -> N.
fn glibc_minor(glibc: &str) -> Result<u32> {
    glibc
        .strip_prefix("2.")
        .and_then(|minor| minor.parse().ok())
        .with_context(|| format!("glibc `{glibc}` is not 2.<N>"))
}

/// pip installs `package` into a fresh venv far from the repository, and
/// the smoke test runs there. A wheel brings its V8; the sdist (`sdist_of`
/// names the workspace) is built from source by pip (cargo, the shim, the
/// extension), finding V8 the documented way: `.deps/v8/` is not in the
/// sdist, so the V8 `cargo xtask setup` fetched is handed over as
/// `V8CAGE_V8_DIR` (a set one, or the system's libnode-dev, is found as is).
fn smoke_test_in_fresh_venv(package: &Path, sdist_of: Option<&Path>) -> Result<()> {
    let kind = if sdist_of.is_some() { "sdist" } else { "wheel" };
    let scratch = std::env::temp_dir().join(format!("v8cage-{kind}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let test_venv = scratch.join("venv");
    run(Command::new("python3").args(["-m", "venv"]).arg(&test_venv))?;
    let python = test_venv.join("bin/python");
    let mut install = Command::new(&python);
    install
        .args(["-m", "pip", "install", "--quiet", "--no-deps"])
        .arg(package)
        .current_dir(&scratch)
        .env_remove("RUSTUP_TOOLCHAIN");
    if let Some(root) = sdist_of {
        let fetched = root.join(".deps/v8/usr");
        if std::env::var_os("V8CAGE_V8_DIR").is_none()
            && fetched.join("include/node/v8.h").is_file()
        {
            install.env("V8CAGE_V8_DIR", &fetched);
        }
    }
    run(&mut install)?;
    let mut smoke = Command::new(&python);
    smoke.args(["-c", WHEEL_SMOKE_TEST]);
    if sdist_of.is_none() {
        smoke.arg("bundled");
    }
    run(smoke
        .current_dir(&scratch)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PYTHONPATH"))?;
    std::fs::remove_dir_all(&scratch)?;
    Ok(())
}

/// A Debian release to test a wheel in, and how the suite runs there.
pub struct Userland {
    /// debootstrap's name (`bookworm`, `bullseye`).
    pub suite: &'static str,
    /// What the suite needs besides the wheel, from PyPI.
    pub packages: &'static [&'static str],
    /// Extra pytest arguments (what cannot run there, and why, beside it).
    pub pytest_args: &'static [&'static str],
}

/// Debian 12 (glibc 2.36, Python 3.11): the whole suite, mini-racer's
/// side-by-side tests included.
pub const BOOKWORM: Userland = Userland {
    suite: "bookworm",
    packages: &["pytest", "mini-racer"],
    pytest_args: &[],
};

/// Debian 11 (glibc 2.31, Python 3.9): mini-racer 0.14 requires Python
/// 3.10, so its side-by-side tests stay out; everything else runs.
pub const BULLSEYE: Userland = Userland {
    suite: "bullseye",
    // pip download on the host judges dependency markers by its own
    // Python (3.11), not `--python-version`: pytest's backports for
    // Python < 3.11 are named here.
    packages: &["pytest", "tomli", "exceptiongroup", "typing-extensions"],
    pytest_args: &["--ignore=tests/test_mini_racer.py"],
};

/// Where the test files go inside a userland.
/// How much slower than native the wheel's tests run in an emulated VM
/// (about ten times, on 2 cores): test time bounds are multiplied by it.
const EMULATED_TIME_SCALE: u32 = 10;

const TEST_DIR_INSIDE: &str = "/opt/v8cage-test";

/// Installs the wheel into a fresh venv inside a copy of a Debian
/// `userland` of `target` and runs the smoke test and python/tests there:
/// in a chroot for the host's architecture; for another one, pip runs in
/// the chroot under qemu-user and the tests in a qemu-system VM booting
/// Debian's kernel with the userland as its root, so that seccomp, user
/// namespaces and RSS behave as on that hardware. The userland has no
/// network: the suite's packages are fetched on the host.
fn test_in_userland(root: &Path, wheel: &Path, userland: &Userland, target: &Target) -> Result<()> {
    let suite = userland.suite;
    let cached = cross::userland(suite, target)?;
    // A copy to install into: the cached userland stays as debootstrap left it.
    let rootfs = cached.with_extension("test");
    let _ = std::fs::remove_dir_all(&rootfs);
    run(Command::new("cp").arg("-a").arg(&cached).arg(&rootfs))?;
    let work = rootfs.join(TEST_DIR_INSIDE.trim_start_matches('/'));
    std::fs::create_dir_all(work.join("pywheels"))?;
    let wheel_name = wheel.file_name().context("wheel path")?.to_string_lossy();
    std::fs::copy(wheel, work.join("pywheels").join(&*wheel_name))?;
    run(Command::new("cp")
        .arg("-r")
        .arg(root.join("python/tests"))
        .arg(work.join("tests")))?;
    std::fs::write(work.join("smoke.py"), WHEEL_SMOKE_TEST)?;

    let started = Instant::now();
    let python = format!("{TEST_DIR_INSIDE}/venv/bin/python");
    let pytest = format!(
        "{python} -m pytest -q -p no:cacheprovider --color=no tests {}",
        userland.pytest_args.join(" ")
    );
    {
        let _mounts = cross::ChrootMounts::new(&rootfs)?;
        let version = cross::in_chroot(&rootfs, "/usr/bin/python3")
            .args([
                "-c",
                "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
            ])
            .output()
            .context("running the userland's python3")?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
        // pip matches one platform tag at a time: every manylinux glibc
        // level up to the userland's.
        let mut download = Command::new("python3");
        download.args(["-m", "pip", "download", "--quiet", "--only-binary=:all:"]);
        download
            .args(["--python-version", &version, "--dest"])
            .arg(work.join("pywheels"));
        for glibc in 17..=36 {
            download.arg(format!("--platform=manylinux_2_{glibc}_{}", target.name));
        }
        download.arg(format!("--platform=manylinux2014_{}", target.name));
        run(download.args(userland.packages))?;
        run(cross::in_chroot(&rootfs, "/usr/bin/python3").args([
            "-m",
            "venv",
            &format!("{TEST_DIR_INSIDE}/venv"),
        ]))?;
        run(cross::in_chroot(&rootfs, &python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-index",
                "--find-links",
            ])
            .arg(format!("{TEST_DIR_INSIDE}/pywheels"))
            .arg("v8cage")
            .args(userland.packages))?;
        if target.vm.is_none() {
            let in_work = |command: &str| {
                run(cross::in_chroot(&rootfs, "/bin/sh")
                    .args(["-c", &format!("cd {TEST_DIR_INSIDE} && {command}")]))
            };
            in_work(&format!("{python} smoke.py bundled"))?;
            in_work(&pytest)?;
        }
    }
    if target.vm.is_some() {
        let log = root.join(format!("target/wheels/vm-{}.log", target.name));
        cross::run_in_vm(
            target,
            &rootfs,
            &[
                format!("cd {TEST_DIR_INSIDE}"),
                format!("{python} smoke.py bundled"),
                // Emulated: time bounds scaled (one failed at 1.02 s of
                // 1.0); a test stuck for 10 minutes prints every thread's
                // stack instead of only running into the VM's timeout.
                format!(
                    "V8CAGE_TEST_TIME_SCALE={EMULATED_TIME_SCALE} {pytest} \
                     -o faulthandler_timeout=600"
                ),
            ],
            &log,
        )?;
    }
    eprintln!(
        "xtask wheel: smoke test and python/tests passed in a Debian {suite} {} {} in {:.0} s",
        target.debian_arch,
        if target.vm.is_some() {
            "VM (qemu-system)"
        } else {
            "chroot"
        },
        started.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&rootfs)?;
    Ok(())
}
