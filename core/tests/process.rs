//! What only a process context can promise: V8's fatal errors, builtins
//! that ignore termination and a lying worker end in a typed error, the
//! context is then lost at once and for good, and the host lives on. The
//! behavioural suites run in both modes; this file is process-only, so the
//! host here never starts V8 itself (see the fork test).

mod common;

use std::time::{Duration, Instant};

use v8cage::{Context, ContextOptions, Error, Isolation, Value};

fn caged(options: ContextOptions) -> Context {
    Context::new(ContextOptions {
        isolation: Isolation::Process,
        ..options
    })
    .expect("a process context")
}

fn assert_lost(ctx: &mut Context) {
    let started = Instant::now();
    match ctx.eval("1 + 1") {
        Err(Error::Crashed { message, .. }) => assert!(message.contains("gone"), "{message}"),
        other => panic!("a lost context answered {other:?}"),
    }
    assert!(started.elapsed() < common::generous(), "answered at once");
    assert_eq!(ctx.heap_stats(), v8cage::HeapStats::default());
}

fn assert_new_contexts_work() {
    let mut fresh = caged(ContextOptions::default());
    assert_eq!(fresh.eval("6 * 7"), Ok(Value::Number(42.0)));
}

/// In-process these abort the host (V8 fatal errors, no limits set;
/// `known_limits.rs` says which V8 aborts on which).
#[test]
fn v8_fatal_errors_are_crashed_with_v8s_last_words() {
    let mut sources = vec!["'x'.repeat(2**29 - 24).split('')"];
    if v8cage::v8_version().starts_with("10.") {
        // 15.2 sorts it.
        sources.push("Array.prototype.sort.call({length: 2**27})");
    }
    for source in sources {
        let mut ctx = caged(ContextOptions::default());
        match ctx.eval(source) {
            // V8 says "OOM" for the sort's length abort, with ~40 MB in use:
            // a crash with its words, not OutOfMemory.
            Err(Error::Crashed { signal, message }) => {
                assert_eq!(signal, Some(libc::SIGTRAP), "{source}: {message}");
                assert!(message.contains("Fatal"), "{source}: {message}");
            }
            other => panic!("{source}: {other:?}"),
        }
        assert_lost(&mut ctx);
    }
    assert_new_contexts_work();
}

/// `indexOf` over 2^53 elements never checks for termination: in-process
/// it runs for hours past a 100 ms timeout. The host kills the worker at
/// the timeout plus the kill grace, however busy the worker is.
#[test]
fn the_hard_deadline_kills_a_builtin_that_ignores_its_timeout() {
    let mut ctx = caged(ContextOptions {
        timeout: Some(Duration::from_millis(100)),
        kill_grace: Duration::from_millis(100),
        ..Default::default()
    });
    let started = Instant::now();
    assert_eq!(
        ctx.eval("Array.prototype.indexOf.call({length: 2**53 - 1}, 1)"),
        Err(Error::Timeout)
    );
    assert!(started.elapsed() < common::scaled(Duration::from_secs(1)));
    assert_lost(&mut ctx);
    assert_new_contexts_work();
}

/// The same builtin without a timeout: `terminate()` from another thread
/// ends it (the worker cannot, so the host kills it after the grace).
#[test]
fn terminate_kills_a_builtin_that_ignores_it() {
    let mut ctx = caged(ContextOptions {
        kill_grace: Duration::from_millis(100),
        ..Default::default()
    });
    let stop = ctx.terminate_handle();
    let worker = ctx.isolation_report().expect("process").worker_pid;
    let idle = cpu_ticks(worker);
    let stopper = std::thread::spawn(move || {
        // Only once the worker has spent CPU time in the builtin: a
        // terminate that lands before it starts stops the script cleanly.
        while cpu_ticks(worker) < idle + 3 {
            std::thread::yield_now();
        }
        stop.terminate();
    });
    let result = ctx.eval("Array.prototype.indexOf.call({length: 2**53 - 1}, 1)");
    stopper.join().unwrap();
    assert_eq!(result, Err(Error::Terminated));
    assert_lost(&mut ctx);
}

/// User plus system CPU time of a process, in clock ticks (`/proc/<pid>/stat`).
/// A terminal's Ctrl-C goes to its foreground process group: the worker is
/// in a group of its own, so only the host gets it.
#[test]
fn a_worker_is_in_a_process_group_of_its_own() {
    let ctx = caged(ContextOptions::default());
    let worker = ctx.isolation_report().expect("process").worker_pid;
    let stat = std::fs::read_to_string(format!("/proc/{worker}/stat")).unwrap();
    // "pid (comm) state ppid pgrp ...": the fields after the name.
    let after_name = stat.rsplit(')').next().unwrap();
    let group: i32 = after_name
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(group as u32, worker);
    // SAFETY: getpgrp takes no arguments and cannot fail.
    assert_ne!(group, unsafe { libc::getpgrp() });
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th of the whole line.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// A terminate that stops ordinary JavaScript leaves the context usable: no
/// kill was needed.
#[test]
fn terminate_of_ordinary_javascript_keeps_the_context() {
    let mut ctx = caged(ContextOptions {
        kill_grace: common::generous(),
        ..Default::default()
    });
    ctx.eval("globalThis.kept = 'still here'").unwrap();
    let terminator = common::keep_terminating(ctx.terminate_handle());
    let result = ctx.eval("for (;;) {}");
    terminator.stop();
    assert_eq!(result, Err(Error::Terminated));
    assert_eq!(ctx.eval("kept"), Ok(Value::from("still here")));
}

/// V8 runs only in workers: no V8 platform thread ever starts in this
/// process, so it may fork, and the child can create process contexts (as
/// Python's `multiprocessing` does). A context made before the fork belongs
/// to the parent: the child gets a typed error from it.
#[test]
fn the_host_never_starts_v8_and_a_forked_child_can_use_process_contexts() {
    let mut parent = caged(ContextOptions::default());
    assert_eq!(parent.eval("21 * 2"), Ok(Value::Number(42.0)));
    let v8_threads = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("V8 "))
        .count();
    assert_eq!(v8_threads, 0, "V8 started in the host");

    // SAFETY: the child runs only the closure below (process contexts, no
    // locks this test holds) and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = (|| {
            if !matches!(parent.eval("1"), Err(Error::InvalidInput(_))) {
                return 1;
            }
            let Ok(mut ctx) = Context::new(ContextOptions {
                isolation: Isolation::Process,
                ..Default::default()
            }) else {
                return 2;
            };
            if ctx.eval("[1, 2].map(x => x * 3)")
                != Ok(Value::Array(vec![Value::Number(3.0), Value::Number(6.0)]))
            {
                return 3;
            }
            0
        })();
        // SAFETY: ends the child at once, as a forked child must.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child ended with wait status {status:#x}"
    );
    // The parent's context is untouched by the child's use of its copy.
    assert_eq!(parent.eval("21 * 2"), Ok(Value::Number(42.0)));
}

#[test]
fn a_process_context_may_have_v8_flags_of_its_own() {
    let probe = "typeof WebAssembly";
    let mut plain = caged(ContextOptions::default());
    assert_eq!(plain.eval(probe), Ok(Value::from("object")));
    // `--jitless` turns WebAssembly off: the flag reached that worker only.
    let mut jitless = caged(ContextOptions {
        v8_flags: "--jitless".into(),
        ..ContextOptions::default()
    });
    assert_eq!(jitless.eval(probe), Ok(Value::from("undefined")));
    assert_eq!(plain.eval(probe), Ok(Value::from("object")));
    assert_eq!(jitless.eval("6 * 7"), Ok(Value::from(42)));

    // Flags V8 reads once per process, and flags set_flags refuses, are
    // refused before any worker starts.
    let in_process = Context::new(ContextOptions {
        v8_flags: "--jitless".into(),
        ..ContextOptions::default()
    });
    assert!(matches!(in_process, Err(Error::InvalidInput(_))));
    for refused in [
        "--allow-natives-syntax",
        "--abort-on-uncaught-exception",
        "--help",
    ] {
        let made = Context::new(ContextOptions {
            isolation: Isolation::Process,
            v8_flags: format!("--jitless {refused}"),
            ..ContextOptions::default()
        });
        assert!(matches!(made, Err(Error::InvalidInput(_))), "{refused}");
    }
}

/// Memory no counter sees — here the parser's zone for a literal of 32
/// million elements, ~1 GB outside the JS heap (the source itself is 64 MB,
/// within the heap limit) — is bounded by the host's resident-memory watch:
/// the evaluation ends in `OutOfMemory`, the context is lost, the worker's
/// peak stays within the bound, other contexts work.
#[test]
fn memory_no_counter_sees_is_bounded_by_the_resident_watch() {
    let heap_limit = 128 << 20;
    let mut ctx = caged(ContextOptions {
        heap_limit: Some(heap_limit),
        timeout: Some(common::generous()),
        ..Default::default()
    });
    let bound = ctx
        .isolation_report()
        .expect("a process context")
        .resident_memory_bound;
    if cfg!(v8cage_sanitized) {
        // Shadow memory is resident too: no bound in sanitizer builds.
        assert_eq!(bound, None);
        return;
    }
    let bound = bound.expect("a resident-memory bound");
    assert_eq!(bound, 2 * heap_limit as u64 + (256 << 20));
    assert_eq!(
        ctx.eval("eval('[' + '1,'.repeat(32e6) + ']').length"),
        Err(Error::OutOfMemory)
    );
    assert_lost(&mut ctx);
    let peak = ctx.worker_peak_resident().expect("the lost worker's peak");
    assert!(peak <= bound, "peak {peak} over the bound {bound}");
    assert_new_contexts_work();
}

/// The hard deadline runs from the moment `eval` is entered: encoding and
/// handing a large source to the worker count against it, and a worker
/// that cannot stop (V8's parser never checks for termination) is killed
/// within the timeout plus the kill grace.
#[test]
fn the_hard_deadline_covers_handing_over_a_large_source() {
    let timeout = Duration::from_millis(300);
    let kill_grace = Duration::from_millis(300);
    let mut ctx = caged(ContextOptions {
        timeout: Some(timeout),
        kill_grace,
        ..Default::default()
    });
    // 200 MB of whitespace before an endless loop.
    let source = format!("{}while (true) {{}}", " ".repeat(200 << 20));
    let started = Instant::now();
    let result = ctx.eval(&source);
    let took = started.elapsed();
    assert_eq!(result, Err(Error::Timeout));
    // What remains is the kill's own latency: the watchdog's wake-up and
    // reaping the worker, ~50 ms on an idle machine (a deadline started after
    // the hand-over ended ~450 ms later), much more on a loaded one: this
    // bound catches a deadline that never fires, not its precision.
    let slack = common::scaled(Duration::from_secs(2));
    assert!(took < timeout + kill_grace + slack, "took {took:?}");
}
