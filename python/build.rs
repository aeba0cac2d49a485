//! The extension finds V8's shared library without LD_LIBRARY_PATH in a
//! development build (`maturin develop`); wheels bundle it instead.

fn main() {
    if let Ok(lib_dir) = std::env::var("DEP_V8CAGE_V8_LIB_DIR") {
        println!("cargo:rustc-link-arg-cdylib=-Wl,-rpath,{lib_dir}");
    }
}
