//! Fuzzing v8cage, for `cargo xtask`: libFuzzer campaigns with ASan
//! (`fuzz`), AFL++ campaigns and their sync check (`afl`), the coverage
//! plots both draw (`campaign`), the ClusterFuzzLite/OSS-Fuzz build
//! (`cflite`) and the REPRL target for Fuzzilli (`fuzzilli`). Each links the
//! V8 the cache offers (`v8build`), and says which.

pub mod afl;
pub mod campaign;
pub mod cflite;
pub mod fuzz;
pub mod fuzzilli;

#[cfg(test)]
mod tests_support {
    use std::path::{Path, PathBuf};

    /// The workspace, two levels above this crate.
    pub fn workspace_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .expect("the crate lives in the workspace")
    }
}
