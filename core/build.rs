//! Finds V8 (headers + shared library), compiles the C++ shim, links V8 and
//! sets an rpath so binaries run without `LD_LIBRARY_PATH`.
//!
//! Search order (see ARCHITECTURE.md): `V8CAGE_V8_DIR`, then the workspace's
//! `.deps/v8-<target arch>/` and `.deps/v8/` (filled by `cargo xtask setup`), then the system's `libnode-dev`.

use std::env;
use std::path::{Path, PathBuf};

/// Library names that carry V8's API, most specific first.
const LIBRARIES: &[&str] = &["node", "v8"];
/// Where a prefix keeps the library; `{multiarch}` is the target's Debian
/// multiarch directory (`x86_64-linux-gnu`, `aarch64-linux-gnu`), so a
/// cross build never picks up the host's library.
const LIB_SUBDIRS: &[&str] = &[
    "lib",
    "lib/{multiarch}",
    "lib64",
    "usr/lib/{multiarch}",
    "usr/lib",
];
const INCLUDE_SUBDIRS: &[&str] = &["include", "include/node", "usr/include/node", "include/v8"];

struct V8Install {
    include: PathBuf,
    lib_dir: PathBuf,
    lib_name: &'static str,
}

impl V8Install {
    /// `V8_MAJOR_VERSION` from the headers (10 for Debian's libnode).
    fn major_version(&self) -> u32 {
        let text = std::fs::read_to_string(self.include.join("v8-version.h")).unwrap_or_default();
        text.lines()
            .find_map(|line| line.strip_prefix("#define V8_MAJOR_VERSION "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(10)
    }

    /// A prefix made by `cargo xtask v8 build` carries Chromium's libc++
    /// (the ABI V8 was built with: `include/c++/v1`, `lib/libc++.so`) and
    /// the clang those headers need (`bin/clang++`).
    fn libcxx_headers(&self) -> Option<PathBuf> {
        Some(self.include.join("c++/v1")).filter(|dir| dir.join("__config_site").is_file())
    }

    fn own_compiler(&self) -> Option<PathBuf> {
        let clang = self.include.parent()?.join("bin/clang++");
        clang.is_file().then_some(clang)
    }
}

/// The target's Debian multiarch name, e.g. `aarch64-linux-gnu`.
fn multiarch() -> String {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    format!("{arch}-linux-gnu")
}

fn find_in(prefix: &Path) -> Option<V8Install> {
    let include = INCLUDE_SUBDIRS
        .iter()
        .map(|sub| prefix.join(sub))
        .find(|dir| dir.join("v8.h").is_file())?;
    let multiarch = multiarch();
    LIB_SUBDIRS
        .iter()
        .map(|sub| prefix.join(sub.replace("{multiarch}", &multiarch)))
        .find_map(|dir| {
            LIBRARIES
                .iter()
                .find(|name| dir.join(format!("lib{name}.so")).exists())
                .map(|name| V8Install {
                    include: include.clone(),
                    lib_dir: dir.clone(),
                    lib_name: name,
                })
        })
}

fn find_v8(manifest_dir: &Path) -> Result<V8Install, String> {
    if let Some(dir) = env::var_os("V8CAGE_V8_DIR") {
        let dir = PathBuf::from(dir);
        return find_in(&dir).ok_or_else(|| {
            format!(
                "V8CAGE_V8_DIR={} has no v8.h under include/ or no libnode.so/libv8.so under lib/",
                dir.display()
            )
        });
    }
    // `.deps/v8-<arch>/` holds another architecture's packages for cross
    // builds (`cargo xtask wheel --target aarch64`); `.deps/v8/` the host's.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    for deps in [format!("../.deps/v8-{arch}"), "../.deps/v8".to_string()] {
        if let Some(found) = find_in(&manifest_dir.join(deps)) {
            return Ok(found);
        }
    }
    if Path::new("/usr/include/node/v8.h").is_file() {
        if let Some(found) = find_in(Path::new("/usr")) {
            return Ok(found);
        }
    }
    Err("v8cage needs V8 (headers and a shared library). Provide it one of three ways:\n  \
         1. run `cargo xtask setup` (downloads Debian's libnode108 + libnode-dev into .deps/v8/);\n  \
         2. set V8CAGE_V8_DIR to a prefix with include/v8.h and lib/libv8.so or lib/libnode.so;\n  \
         3. install the system package: `apt-get install libnode-dev` (Debian/Ubuntu)."
        .to_string())
}

/// The sanitizers to build the shim with: those rustc instruments the Rust
/// code for (`-Zsanitizer=...`, seen as `CARGO_CFG_SANITIZE`), plus
/// `V8CAGE_SHIM_SANITIZE` (comma-separated, e.g. `undefined`) for the ones
/// rustc has no flag for.
fn shim_sanitizers() -> Vec<String> {
    ["CARGO_CFG_SANITIZE", "V8CAGE_SHIM_SANITIZE"]
        .iter()
        .filter_map(|var| env::var(var).ok())
        .flat_map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Newest clang first: sanitizer builds compile the shim with clang, whose
/// instrumentation matches the LLVM runtime rustc links.
const CLANGS: &[&str] = &[
    "clang++-19",
    "clang++-18",
    "clang++-17",
    "clang++-16",
    "clang++-15",
    "clang++-14",
    "clang++",
];

fn find_clang() -> Option<&'static str> {
    CLANGS.iter().copied().find(|clang| {
        std::process::Command::new(clang)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    })
}

/// Whether the caller named the C++ compiler, in any of the variables cc
/// reads (`CXX`, or one for the target: a wheel's cross or old-glibc build).
fn compiler_chosen() -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    [
        "CXX".to_string(),
        "TARGET_CXX".to_string(),
        format!("CXX_{target}"),
        format!("CXX_{}", target.replace('-', "_")),
    ]
    .iter()
    .filter(|var| {
        // Every one watched, so no short-circuit.
        println!("cargo:rerun-if-env-changed={var}");
        env::var_os(var).is_some()
    })
    .count()
        > 0
}

fn configure_sanitizers(shim: &mut cc::Build, sanitizers: &[String], has_own_compiler: bool) {
    let only_address = sanitizers.iter().all(|s| s == "address");
    if !compiler_chosen() && !has_own_compiler {
        match find_clang() {
            Some(clang) => {
                shim.compiler(clang);
            }
            // cc passes -fsanitize=address to GCC too, and rustc's runtime
            // accepts GCC's ASan objects; the other sanitizers need clang.
            None if only_address => println!(
                "cargo:warning=no clang++ found: the shim is built with the default C++ compiler for ASan"
            ),
            None => {
                eprintln!(
                    "\nerror: the shim's {} build needs clang++: `apt-get install clang-19`, or set CXX\n",
                    sanitizers.join(",")
                );
                std::process::exit(1);
            }
        }
    }
    // Readable reports: frame pointers for the unwinder, line tables for the symbolizer.
    shim.flag("-fno-omit-frame-pointer").flag("-g");
    for sanitizer in sanitizers {
        match sanitizer.as_str() {
            // cc adds -fsanitize=address itself for CARGO_CFG_SANITIZE=address.
            "address" => {}
            "thread" => {
                shim.flag("-fsanitize=thread");
            }
            "memory" => {
                // Argument shadow through TLS, as the MSan V8 and the Rust
                // side pass it (sanitizer-builds/msan.sh says why).
                shim.flag("-fsanitize=memory")
                    .flag("-fsanitize-memory-track-origins")
                    .flag("-fno-sanitize-memory-param-retval");
            }
            "undefined" => {
                // Abort at the first report so the job cannot pass over it.
                shim.flag("-fsanitize=undefined")
                    .flag("-fno-sanitize-recover=all");
            }
            // leak: LSan's runtime needs no instrumentation of C++ code.
            "leak" => {}
            other => println!("cargo:warning=the shim is not instrumented for sanitizer `{other}`"),
        }
    }
}

/// The product's C++: every `.cc` directly in `shim/` (not `shim/testing/`),
/// sorted so builds are reproducible.
fn product_sources(shim: &Path) -> Vec<PathBuf> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(shim)
        .expect("reading core/shim")
        .map(|entry| entry.expect("a core/shim entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "cc"))
        .collect();
    sources.sort();
    sources
}

/// `FooBar` -> `FOO_BAR`, `F64Bytes` -> `F64_BYTES`.
fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Turns `shim/wire.def` (the wire format's one definition) into Rust
/// constants in `$OUT_DIR/wire_format.rs`: `tag::*` (u8), the layout
/// constants (usize) and `WIRE_ENTRIES`, everything in file order, which
/// `wire.rs`'s test compares with the table the shim compiled.
fn generate_wire_constants(def: &Path) {
    let text = std::fs::read_to_string(def).expect("reading core/shim/wire.def");
    let (mut tags, mut constants, mut entries) = (String::new(), String::new(), String::new());
    for line in text.lines().map(str::trim) {
        let Some((kind, rest)) = line.split_once('(') else {
            continue;
        };
        let Some((name, value)) = rest.strip_suffix(')').and_then(|r| r.split_once(',')) else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        let rust_name = screaming_snake(name);
        match kind {
            "V8CAGE_WIRE_TAG" => {
                tags.push_str(&format!("    pub const {rust_name}: u8 = {value};\n"))
            }
            "V8CAGE_WIRE_CONST" => {
                // Some serve only the shim and the format test.
                constants.push_str(&format!(
                    "#[allow(dead_code)]\npub(crate) const {rust_name}: usize = {value};\n"
                ))
            }
            _ => continue,
        }
        entries.push_str(&format!("    (\"{name}\", {value}),\n"));
    }
    let rust = format!(
        "pub(crate) mod tag {{\n{tags}}}\n{constants}\
         #[cfg(all(test, not(miri)))]\npub(crate) const WIRE_ENTRIES: &[(&str, u64)] = &[\n{entries}];\n"
    );
    let out =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("wire_format.rs");
    std::fs::write(out, rust).expect("writing wire_format.rs");
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-env-changed=V8CAGE_V8_DIR");
    println!("cargo:rerun-if-changed=shim");
    println!("cargo:rerun-if-env-changed=V8CAGE_SHIM_SANITIZE");
    // Only folders that exist: cargo reruns a build script on every build
    // while a watched path is missing (a fresh machine has no
    // .deps/v8-<arch>/, and every cargo command recompiled the shim: ~45 s).
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    for deps in ["v8".to_string(), format!("v8-{arch}")] {
        let dir = manifest_dir.join("../.deps").join(deps);
        if dir.is_dir() {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
    }

    let v8 = match find_v8(&manifest_dir) {
        Ok(v8) => v8,
        Err(message) => {
            eprintln!("\nerror: {message}\n");
            std::process::exit(1);
        }
    };

    generate_wire_constants(&manifest_dir.join("shim/wire.def"));

    let sanitizers = shim_sanitizers();
    // Tests whose figures mean nothing when rustc instruments the program
    // (RSS under ASan) adapt to it.
    println!("cargo::rustc-check-cfg=cfg(v8cage_sanitized)");
    if env::var("CARGO_CFG_SANITIZE").is_ok_and(|s| !s.is_empty()) {
        println!("cargo::rustc-cfg=v8cage_sanitized");
    }
    let mut shim = cc::Build::new();
    let major = v8.major_version();
    // V8 12 and later need C++20.
    shim.cpp(true)
        .std(if major >= 12 { "c++20" } else { "c++17" })
        .files(product_sources(&manifest_dir.join("shim")))
        // V8's headers as system headers: their own warnings (15.2's
        // v8-template.h casts between callback types) are not the shim's.
        .flag("-isystem")
        .flag(v8.include.display().to_string())
        // V8 is built without RTTI; our ArrayBuffer::Allocator subclass must match.
        .flag("-fno-rtti")
        // Optimised even in debug builds: the converters recurse up to
        // max_depth levels and unoptimised frames are several times larger.
        .opt_level(2)
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(true);
    // Test-only C++ (shim/testing/), each piece only with its feature.
    if env::var_os("CARGO_FEATURE_PLANTED_BUGS").is_some() {
        // Deliberate bugs for proving the sanitizer jobs (see sanitizer-builds/).
        shim.file("shim/testing/planted_bugs.cc");
    }
    if env::var_os("CARGO_FEATURE_BENCH_FLOOR").is_some() {
        shim.file("shim/testing/bench_raw_eval.cc");
    }
    if v8.include.join("v8-gn.h").is_file() {
        // The build's configuration (pointer compression, sandbox...), as V8 reads it.
        shim.define("V8_GN_HEADER", None);
    }
    if let Some(libcxx) = v8.libcxx_headers() {
        shim.flag("-nostdinc++")
            .flag("-isystem")
            .flag(libcxx.display().to_string())
            .cpp_link_stdlib(None);
        if !compiler_chosen() {
            if let Some(clang) = v8.own_compiler() {
                shim.compiler(clang);
            }
        }
    }
    if !sanitizers.is_empty() {
        configure_sanitizers(&mut shim, &sanitizers, v8.own_compiler().is_some());
        // A libFuzzer build (`cargo fuzz`: --cfg fuzzing plus a sanitizer):
        // coverage counters in the shim too, so the fuzzer sees its edges
        // (libnode's stay invisible). The AFL build leaves the shim alone.
        if env::var_os("CARGO_CFG_FUZZING").is_some() {
            shim.flag_if_supported("-fsanitize=fuzzer-no-link");
            // ASan's shadow of V8's randomly placed pages piles up when
            // isolates come and go (see the file). A sandboxed V8 places
            // its heap pages inside its own reservation instead.
            if sanitizers.iter().any(|s| s == "address") && major < 12 {
                shim.file("shim/testing/kernel_placed_pages.cc")
                    .define("V8CAGE_KERNEL_PLACED_PAGES", None);
            }
        }
    }
    shim.compile("v8cage_shim");

    let lib_dir = v8.lib_dir.display();
    println!("cargo:rustc-link-search=native={lib_dir}");
    println!("cargo:rustc-link-lib=dylib={}", v8.lib_name);
    if v8.libcxx_headers().is_some() {
        // An ASan build of the current V8 carries libc++abi apart
        // (`cargo xtask v8 build asan-cov`): the shim needs it, and so does
        // libv8.so, which expects it from the executable.
        if v8.lib_dir.join("libc++abi.so").is_file() {
            println!("cargo:rustc-link-lib=dylib=c++abi");
        }
        println!("cargo:rustc-link-lib=dylib=c++");
    }
    // dladdr/dlopen (v8_library.cc): in libc since glibc 2.34, in libdl
    // before (the manylinux_2_28 wheel).
    println!("cargo:rustc-link-lib=dylib=dl");
    // A V8 component build (e.g. the MSan one, sanitizer-builds/README.md)
    // splits the platform and base libraries out of libv8.so.
    for part in ["v8_libplatform", "v8_libbase"] {
        if v8.lib_dir.join(format!("lib{part}.so")).exists() {
            println!("cargo:rustc-link-lib=dylib={part}");
        }
    }
    // Tests, examples and benches of this crate find the library without LD_LIBRARY_PATH.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    // For dependents (DEP_V8CAGE_V8_LIB_DIR / _INCLUDE) to set their own rpath.
    println!("cargo:lib_dir={lib_dir}");
    println!("cargo:include={}", v8.include.display());
}
