//! V8 cannot run in a child forked after it started (its threads are gone,
//! its locks may be held forever). Such a child gets `Error::InvalidInput`
//! from every use, old context or new, and exits normally; before this was
//! handled, its first evaluation was a SIGSEGV in `v8::Context::Enter`.

use v8cage::{Context, Error, Value};

/// What the child checks; its exit code says which check failed (0: none).
fn child(mut inherited: Context) -> i32 {
    if !matches!(inherited.eval("1 + 1"), Err(Error::InvalidInput(_))) {
        return 1;
    }
    if !matches!(inherited.call("Math.max", &[]), Err(Error::InvalidInput(_))) {
        return 2;
    }
    match Context::default_new() {
        Err(Error::InvalidInput(message)) if message.contains("fork") => {}
        _ => return 3,
    }
    inherited.terminate_handle().terminate();
    inherited.low_memory_notification();
    if inherited.heap_stats().used != 0 {
        return 4;
    }
    // Dropping must not touch the parent's isolate either.
    drop(inherited);
    0
}

#[test]
fn a_child_forked_after_v8_started_gets_typed_errors_and_exits_cleanly() {
    let mut parent = Context::default_new().unwrap();
    assert_eq!(parent.eval("21 * 2"), Ok(Value::Number(42.0)));
    let inherited = Context::default_new().unwrap();

    // SAFETY: the child runs only `child` (no locks this test holds) and
    // leaves with `_exit`, so no destructor or test-harness code runs twice.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child(inherited);
        // SAFETY: ends the child at once, as a forked child must.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked; `status` is a valid out-pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child ended with wait status {status:#x} (signal {}, exit {})",
        if libc::WIFSIGNALED(status) {
            libc::WTERMSIG(status)
        } else {
            0
        },
        libc::WEXITSTATUS(status)
    );

    // The parent's contexts are untouched.
    assert_eq!(parent.eval("21 * 2"), Ok(Value::Number(42.0)));
    drop(inherited);
}
