//! Lets the harness's tests and examples find libnode at run time: v8cage's build script
//! reports the library folder (`links = "v8cage_v8"`), and rpath flags only
//! apply to the package that emits them.
fn main() {
    if let Ok(dir) = std::env::var("DEP_V8CAGE_V8_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
