//! What V8 10.2 itself cannot survive or bound, asserted as it is today, so
//! that a V8 upgrade that fixes one is noticed (README, "Known limits").
//! Process isolation is what contains these; in-process v8cage cannot.
//!
//! Each case runs in a child process (this binary again, with
//! `V8CAGE_KNOWN_LIMIT=<case>`): V8 aborts it, a builtin ignores its
//! timeout, or memory escapes the heap limit — never the test process.
//! Its own harness (`harness = false`), so the child runs exactly one case.

mod common;

use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use v8cage::{Context, ContextOptions};

const CASE: &str = "V8CAGE_KNOWN_LIMIT";

/// A fatal error inside V8 (it aborts with SIGTRAP), with no limits set.
const FATAL: &[(&str, &str)] = &[
    ("sort", "Array.prototype.sort.call({length: 2**27})"),
    ("split", "'x'.repeat(2**29 - 24).split('')"),
];

/// A builtin that never checks for termination: 2^53 steps, past any timeout.
const NO_INTERRUPT_CHECK: &str = "Array.prototype.indexOf.call({length: 2**53 - 1}, 1)";

/// The child: runs one case, prints what happened, exits 0 (if V8 lets it).
fn child(case: &str) -> ExitCode {
    let context = |heap_limit, timeout| {
        Context::new(ContextOptions {
            heap_limit,
            timeout,
            ..Default::default()
        })
        .expect("a context")
    };
    match case {
        "indexOf" => {
            let result = context(None, Some(Duration::from_millis(100))).eval(NO_INTERRUPT_CHECK);
            println!("{result:?}");
        }
        fatal => {
            let (_, source) = FATAL
                .iter()
                .find(|(name, _)| *name == fatal)
                .expect("a case");
            println!("{:?}", context(None, None).eval(source));
        }
    }
    ExitCode::SUCCESS
}

/// The child's end: its exit (`None` if it had to be killed after `wait`)
/// and its output.
fn run_child(case: &str, wait: Duration) -> (Option<std::process::ExitStatus>, String) {
    let process = Command::new(std::env::current_exe().expect("the test binary"))
        .env(CASE, case)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the child");
    let pid = process.id() as libc::pid_t;
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(process.wait_with_output()));
    let (killed, output) = match ended.recv_timeout(wait) {
        Ok(output) => (false, output),
        Err(_) => {
            // SAFETY: kill(2) has no memory effects. `pid` is our child; had
            // it ended and been reaped this instant, the id would only be
            // reused after the system cycled through all others.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            (true, ended.recv().expect("the waiter reports"))
        }
    };
    let output = output.expect("waiting for the child");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    ((!killed).then_some(output.status), out)
}

fn parent() -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    let generous = common::generous();
    for (name, source) in FATAL {
        match run_child(name, generous) {
            (Some(status), _) if status.signal().is_some() => {}
            other => return Err(format!("V8 no longer aborts on {source}: {other:?}")),
        }
    }
    // Five seconds past a 100 ms timeout, and still running.
    match run_child("indexOf", common::scaled(Duration::from_secs(5))) {
        (None, _) => {}
        other => {
            return Err(format!(
                "{NO_INTERRUPT_CHECK} now ends (timeouts reach it?): {other:?}"
            ))
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    if let Ok(case) = std::env::var(CASE) {
        return child(&case);
    }
    // `cargo test` passes libtest flags; listing asks for no run.
    if std::env::args().any(|a| a == "--list") {
        println!("known_limits: test");
        return ExitCode::SUCCESS;
    }
    match parent() {
        Ok(()) => {
            println!("known limits of V8 10.2: as documented");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("known_limits: {why}");
            ExitCode::FAILURE
        }
    }
}
