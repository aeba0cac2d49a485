//! What every task of the workspace's tooling shares (xtask, the V8 build
//! system): running programs with their status checked, and the tools they
//! need, found or installed.

pub mod cmd;
pub mod toolchain;
