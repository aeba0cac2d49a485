//! Packaging v8cage for Python users, for `cargo xtask`: the tool venv,
//! manylinux wheels per V8 (Debian's, our own V8 10.2, the current V8) and
//! machine (x86_64 here; aarch64 cross-built and tested in a VM of it), and
//! mini-racer's own suite run against a wheel.

pub mod cross;
pub mod mini_racer;
pub mod venv;
pub mod wheel;
