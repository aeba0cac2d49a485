//! What V8 itself cannot survive or bound, per V8 (10.2, Debian's; 15.2, our
//! build), asserted as it is today, so that an upgrade that fixes one, or
//! brings one back, is noticed (README, "Known limits"). Process isolation
//! is what contains these; in-process v8cage cannot.
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

/// A fatal error inside V8 (it aborts with SIGTRAP), with no limits set,
/// and the V8 majors that abort on it.
const FATAL: &[(&str, &str, &[&str])] = &[
    // 15.2 sorts it.
    (
        "sort",
        "Array.prototype.sort.call({length: 2**27})",
        &["10"],
    ),
    ("split", "'x'.repeat(2**29 - 24).split('')", &["10", "15"]),
];

/// Code that never lets a termination land, past a 100 ms timeout and
/// five seconds more, and the V8 majors where it does so.
const NO_INTERRUPT_CHECK: &[(&str, &str, &[&str])] = &[
    // A builtin that never checks: 2^53 steps.
    (
        "indexOf",
        "Array.prototype.indexOf.call({length: 2**53 - 1}, 1)",
        &["10", "15"],
    ),
    // A loop around a short inlined one: 15.2's loop unrolling drops its
    // stack check, and no stop lands, unless v8cage turns that off
    // (kEngineFlags in core/shim/compat.h). Asserted to end everywhere.
    ("fill", "for (;;) { new Array(1000).fill(1) }", &[]),
];

fn this_major_has(majors: &[&str]) -> bool {
    let version = v8cage::v8_version();
    majors
        .iter()
        .any(|major| version.split('.').next() == Some(major))
}

fn find(cases: &'static [(&str, &str, &[&str])], name: &str) -> Option<&'static str> {
    cases
        .iter()
        .find(|(case, ..)| *case == name)
        .map(|(_, source, _)| *source)
}

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
    if let Some(source) = find(NO_INTERRUPT_CHECK, case) {
        let result = context(None, Some(Duration::from_millis(100))).eval(source);
        println!("{result:?}");
    } else {
        let source = find(FATAL, case).expect("a case");
        println!("{:?}", context(None, None).eval(source));
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
    for (name, source, majors) in FATAL {
        let aborted =
            matches!(run_child(name, generous), (Some(status), _) if status.signal().is_some());
        match (aborted, this_major_has(majors)) {
            (true, true) | (false, false) => {}
            (false, true) => return Err(format!("V8 no longer aborts on {source}")),
            (true, false) => return Err(format!("V8 now aborts on {source}")),
        }
    }
    for (name, source, majors) in NO_INTERRUPT_CHECK {
        // Five seconds past a 100 ms timeout, and still running?
        let ignored = run_child(name, common::scaled(Duration::from_secs(5)))
            .0
            .is_none();
        match (ignored, this_major_has(majors)) {
            (true, true) | (false, false) => {}
            (false, true) => return Err(format!("{source} now ends (timeouts reach it?)")),
            (true, false) => return Err(format!("{source} now ignores its timeout")),
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
            println!("known limits of V8 {}: as documented", v8cage::v8_version());
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("known_limits: {why}");
            ExitCode::FAILURE
        }
    }
}
