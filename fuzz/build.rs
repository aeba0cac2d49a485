//! Lets the fuzz binaries find libnode at run time: v8cage's build script
//! reports the library folder (`links = "v8cage_v8"`), and rpath flags only
//! apply to the package that emits them.
//!
//! `V8CAGE_FUZZ_RPATH` replaces that folder with another search path; the
//! ClusterFuzzLite/OSS-Fuzz build (`.clusterfuzzlite/build.sh`) sets it to
//! `$ORIGIN/lib`, where it bundles libnode for the runner image.
fn main() {
    // Keep v8cage_harness's LeakSanitizer suppressions in every binary:
    // nothing calls them, the sanitizer runtime only looks them up.
    println!("cargo:rustc-link-arg=-Wl,--undefined=__lsan_default_suppressions");
    println!("cargo:rerun-if-env-changed=V8CAGE_FUZZ_RPATH");
    if let Ok(rpath) = std::env::var("V8CAGE_FUZZ_RPATH") {
        // DT_RPATH rather than RUNPATH: it also applies to libnode's own
        // dependencies, bundled beside it.
        println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags,-rpath,{rpath}");
    } else if let Ok(dir) = std::env::var("DEP_V8CAGE_V8_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
