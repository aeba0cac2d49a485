//! Lets the harness's tests and examples find libnode at run time: v8cage's build script
//! reports the library folder (`links = "v8cage_v8"`), and rpath flags only
//! apply to the package that emits them. And, as in v8cage's, the
//! `v8cage_sanitized` cfg when rustc instruments the build.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(v8cage_sanitized)");
    if std::env::var("CARGO_CFG_SANITIZE").is_ok_and(|s| !s.is_empty()) {
        println!("cargo::rustc-cfg=v8cage_sanitized");
    }
    if let Ok(dir) = std::env::var("DEP_V8CAGE_V8_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
