//! The sandbox of a process context's worker, proven by what a compromised
//! worker would try first (`v8cage::testing::sandbox`, feature
//! `sandbox-probes`). Each probe must kill the worker with SIGSYS and
//! surface as `Error::Crashed`; the same probe on a worker without its
//! seccomp filter succeeds, so these tests fail if the filter does nothing.

use v8cage::testing::sandbox::{context_without_seccomp, probe, Probe};
use v8cage::{Context, ContextOptions, Error, Isolation};

fn caged() -> Context {
    Context::new(ContextOptions {
        isolation: Isolation::Process,
        ..Default::default()
    })
    .expect("process context")
}

fn assert_killed_by_the_sandbox(which: Probe) {
    let mut ctx = caged();
    assert!(ctx.isolation_report().expect("process").seccomp);
    match probe(&ctx, which) {
        Err(Error::Crashed { signal, message }) => {
            assert_eq!(signal, Some(libc::SIGSYS), "{which:?}: {message}");
        }
        other => panic!("{which:?} was not stopped by the sandbox: {other:?}"),
    }
    // The context is lost, at once and for good.
    assert!(matches!(ctx.eval("1"), Err(Error::Crashed { .. })));
    // New contexts work.
    assert_eq!(caged().eval("6*7"), Ok(v8cage::Value::Number(42.0)));
}

#[test]
fn opening_a_file_kills_the_worker() {
    assert_killed_by_the_sandbox(Probe::OpenFile);
}

#[test]
fn opening_a_socket_kills_the_worker() {
    assert_killed_by_the_sandbox(Probe::OpenSocket);
}

#[test]
fn executing_a_shell_kills_the_worker() {
    assert_killed_by_the_sandbox(Probe::ExecShell);
}

#[test]
fn signalling_the_host_kills_the_worker() {
    assert_killed_by_the_sandbox(Probe::SignalHost);
}

/// Without seccomp the probes go through: the tests above can fail.
#[test]
fn without_seccomp_the_probes_succeed() {
    let ctx = context_without_seccomp(ContextOptions::default()).expect("context");
    let report = ctx.isolation_report().expect("process");
    assert!(!report.seccomp && report.no_new_privs);
    // RLIMIT_NOFILE (5) still refuses a new descriptor: EMFILE, not a kill.
    assert_eq!(probe(&ctx, Probe::OpenFile), Ok(-libc::EMFILE));
    assert_eq!(probe(&ctx, Probe::OpenSocket), Ok(-libc::EMFILE));
    // Same user id as the host: the kernel would deliver a signal.
    assert_eq!(probe(&ctx, Probe::SignalHost), Ok(0));
    // exec replaces the worker with `sh -c 'exit 7'`, which then cannot
    // even open its libc under the worker's RLIMIT_NOFILE.
    match probe(&ctx, Probe::ExecShell) {
        Err(Error::Crashed {
            signal: None,
            message,
        }) => {
            assert!(message.starts_with("sh: "), "{message}");
        }
        other => panic!("exec was expected to succeed: {other:?}"),
    }
}

/// Whether this machine lets an unprivileged process make new user and
/// network namespaces: tried in a forked (single-threaded) child.
fn namespaces_allowed() -> bool {
    // SAFETY: the child only calls unshare and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: no memory effects; the child ends at once.
        unsafe {
            let ok = libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) == 0;
            libc::_exit(if ok { 0 } else { 1 });
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

#[test]
fn the_report_names_every_layer_this_machine_allows() {
    let ctx = caged();
    let report = ctx.isolation_report().expect("process");
    println!("{report}");
    assert!(report.seccomp && report.no_new_privs && report.file_limits);
    assert!(report.inherited_fds_closed);
    assert!(report.worker_pid != std::process::id());
    let allowed = namespaces_allowed();
    assert_eq!(report.user_namespace, allowed);
    assert_eq!(report.network_namespace, allowed);
    assert!(Context::default_new().unwrap().isolation_report().is_none());
}
