//! The coverage runtime (`src/coverage.c`): the sanitizer-coverage callbacks
//! must not be instrumented themselves, and rustc instruments every Rust
//! function of the build (`cargo xtask fuzzilli build`), so they are C. And
//! the rpath to V8's library, which only applies to the package that emits it.
fn main() {
    println!("cargo:rerun-if-changed=src/coverage.c");
    cc::Build::new()
        .file("src/coverage.c")
        .warnings(true)
        .compile("v8cage_fuzzilli_coverage");
    if let Ok(dir) = std::env::var("DEP_V8CAGE_V8_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
