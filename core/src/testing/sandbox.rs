//! Sandbox probes (feature `sandbox-probes`): `core/tests/sandbox.rs` asks a
//! process context's worker to do what a compromised worker would, and
//! checks that the sandbox kills it, and that without the seccomp filter
//! the same probe succeeds (so the test can fail).

use crate::process::probes;
use crate::{Context, ContextOptions, Error, Isolation};

/// What the worker tries.
#[derive(Debug, Clone, Copy)]
pub enum Probe {
    /// `open("/etc/passwd")`
    OpenFile,
    /// `socket(AF_INET, SOCK_STREAM)`
    OpenSocket,
    /// `execve("/bin/sh", ["sh", "-c", "exit 7"])`
    ExecShell,
    /// `tgkill(host, host, 0)`: may it signal the host (same user id)?
    SignalHost,
}

/// Runs `probe` in `ctx`'s worker: `Ok(result or -errno)` if the system
/// call returned, the worker's fate otherwise.
pub fn probe(ctx: &Context, probe: Probe) -> Result<i32, Error> {
    let remote = ctx
        .remote()
        .ok_or_else(|| Error::InvalidInput("probes need a process context".into()))?;
    remote.probe(match probe {
        Probe::OpenFile => probes::OPEN_FILE,
        Probe::OpenSocket => probes::OPEN_SOCKET,
        Probe::ExecShell => probes::EXEC_SHELL,
        Probe::SignalHost => probes::SIGNAL_HOST,
    })
}

/// A process context whose worker skips its seccomp filter (every other
/// layer stays).
pub fn context_without_seccomp(options: ContextOptions) -> Result<Context, Error> {
    let options = ContextOptions {
        isolation: Isolation::Process,
        ..options
    };
    Context::with_worker_env(
        options,
        vec![(crate::process::NO_SECCOMP_ENV.into(), "1".into())],
    )
}
