//! zig as a C and C++ toolchain for an old glibc: `zig c++ -target
//! x86_64-linux-gnu.2.28` compiles against glibc 2.28's headers and links
//! against stubs carrying only 2.28's symbol versions, with zig's own
//! libc++ linked statically (no GLIBCXX requirement). That is what a
//! `manylinux_2_28` wheel needs of V8, the shim and the extension alike.
//! zig comes from PyPI (`ziglang`), into a venv in the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use devtools::cmd::run;

/// clang 19.1.7 inside: the major release of Debian's clang-19, which
/// builds V8 10.2 here (later zigs bring clangs V8 10.2 was not written for).
const ZIGLANG: &str = "ziglang==0.14.1";

/// Executable wrappers around `zig cc` / `zig c++` for one glibc: build
/// systems take a compiler as one command (Node's gyp, cc-rs).
pub struct ZigToolchain {
    pub cc: PathBuf,
    pub cxx: PathBuf,
}

/// zig in `<cache>/tools/zig` (installed once), and its wrappers for
/// `glibc` in `<cache>/tools/zig-glibc<glibc>/`.
pub fn toolchain(cache: &Path, glibc: &str) -> Result<ZigToolchain> {
    let venv = cache.join("tools/zig");
    let zig = venv.join("bin/python");
    let has_zig = || {
        Command::new(&zig)
            .args(["-m", "ziglang", "version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has_zig() {
        let _ = std::fs::remove_dir_all(&venv);
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", ZIGLANG]))?;
        if !has_zig() {
            bail!("`python -m ziglang version` fails after installing {ZIGLANG}");
        }
    }
    // The binary itself, not `python -m ziglang`: a compile per call.
    let located = Command::new(&zig)
        .args([
            "-c",
            "import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), 'zig'))",
        ])
        .output()?;
    let zig = PathBuf::from(String::from_utf8_lossy(&located.stdout).trim());
    if !zig.is_file() {
        bail!("ziglang has no zig binary at {}", zig.display());
    }
    let target = format!("x86_64-linux-gnu.{glibc}");
    let dir = cache.join(format!("tools/zig-glibc{glibc}"));
    std::fs::create_dir_all(&dir)?;
    let zig_cache = cache.join("tools/zig-cache");
    let write = |name: &str, mode: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        // -fno-sanitize=all: zig cc turns UBSan's trapping mode on by
        // default; the other builds of V8 have no such checks either.
        // zig 0.14 rejects a glibc-versioned target for input from stdin
        // (configure's `cc -dM -E -` probe of the architecture) and
        // complains of it on `--version` (cc-rs asks); the compiler's
        // predefined macros are the same without the version.
        // cc-rs names its Rust triple as a clang target (`--target=x86_64-
        // unknown-linux-gnu`), which zig cannot parse: ours is the target.
        let script = format!(
            "#!/bin/sh\n# zig {mode} for {target} (cargo xtask v8 build, wheels)\n\
             export ZIG_GLOBAL_CACHE_DIR={cache} ZIG_LOCAL_CACHE_DIR={cache}\n\
             target={target}\n\
             for arg do\n\
             \x20 shift\n\
             \x20 case \"$arg\" in\n\
             \x20   --target=*) ;;\n\
             \x20   - | --version) target=x86_64-linux-gnu; set -- \"$@\" \"$arg\" ;;\n\
             \x20   *) set -- \"$@\" \"$arg\" ;;\n\
             \x20 esac\n\
             done\n\
             exec {zig} {mode} -target $target -fno-sanitize=all \"$@\"\n",
            cache = zig_cache.display(),
            zig = zig.display(),
        );
        // Rewritten only when changed: ninja would see a new compiler.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(script.as_str()) {
            std::fs::write(&path, script)?;
            run(Command::new("chmod").arg("+x").arg(&path))?;
        }
        Ok(path)
    };
    Ok(ZigToolchain {
        cc: write("cc", "cc")?,
        cxx: write("c++", "c++")?,
    })
}

/// The libraries Node's configure takes from the system (`--shared-*`, as
/// Debian builds it: its source package lacks some bundled copies) and its
/// gyp files then link into every program, V8's build tools included,
/// which use none of them. zig links nothing of the system's (built for a
/// newer glibc), so these are empty archives: a tool that did use one would
/// fail to link, not pick up the system's.
pub fn empty_system_libraries(cache: &Path) -> Result<PathBuf> {
    let dir = cache.join("tools/zig-empty-system-libs");
    std::fs::create_dir_all(&dir)?;
    for name in [
        "z",
        "uv",
        "brotlidec",
        "brotlienc",
        "cares",
        "nghttp2",
        "crypto",
        "ssl",
    ] {
        // An ar archive with no members is its magic alone.
        std::fs::write(dir.join(format!("lib{name}.a")), b"!<arch>\n")?;
    }
    Ok(dir)
}
