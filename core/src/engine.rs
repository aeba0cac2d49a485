//! Process-wide V8 initialisation: once, lazily, thread-safely.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::{ffi, Error};

/// Set in a child process forked after V8 started: V8's threads did not
/// survive the fork and its locks may be held forever, so nothing may touch
/// V8 there (it crashed in `v8::Context::Enter`).
static FORKED_AFTER_START: AtomicBool = AtomicBool::new(false);

extern "C" fn note_fork_in_child() {
    // Async-signal-safe: one atomic store.
    FORKED_AFTER_START.store(true, Ordering::Relaxed);
}

/// `Err` in a process forked after V8 started in its parent.
pub(crate) fn check_not_forked() -> Result<(), Error> {
    if forked_after_start() {
        return Err(Error::InvalidInput(
            "V8 was started in the parent process and cannot be used after fork(); \
             start child processes with spawn (Python: multiprocessing.set_start_method(\"spawn\"))"
                .into(),
        ));
    }
    Ok(())
}

pub(crate) fn forked_after_start() -> bool {
    FORKED_AFTER_START.load(Ordering::Relaxed)
}

enum State {
    Uninitialised { flags: String },
    Ready,
    Failed,
}

static ENGINE: Mutex<State> = Mutex::new(State::Uninitialised {
    flags: String::new(),
});

/// Passes V8 command-line flags (e.g. `"--max-lazy"`, `"--jitless"`). Only
/// before the first context is created; afterwards it is an
/// [`Error::InvalidInput`] because V8 reads flags once at start-up.
///
/// Flags that would end or abort the host process, or make V8 print to its
/// standard output, are refused in every spelling V8 accepts (see
/// [`refusal`]).
pub fn set_flags(flags: &str) -> Result<(), Error> {
    check_flags(flags)?;
    set_checked_flags(flags)
}

/// [`set_flags`] for flags already checked: the host's, passed on to a
/// worker (which may include the test fence's intrinsics).
pub(crate) fn set_checked_flags(flags: &str) -> Result<(), Error> {
    let mut state = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    if FLAGS_SENT_TO_WORKERS.load(Ordering::Relaxed) {
        return Err(Error::InvalidInput(
            "set_flags must be called before the first Context is created".into(),
        ));
    }
    match &mut *state {
        State::Uninitialised { flags: pending } => {
            if !pending.is_empty() {
                pending.push(' ');
            }
            pending.push_str(flags);
            Ok(())
        }
        _ => Err(Error::InvalidInput(
            "set_flags must be called before the first Context is created".into(),
        )),
    }
}

/// Adds `flags` past [`refusal`], for the test fence only
/// (`testing::enable_fuzzing_natives`). `Ok` also when V8 (or a worker)
/// already started with exactly these flags among its own.
#[cfg(feature = "fuzzing-natives")]
pub(crate) fn add_unrefused_flags(flags: &str) -> Result<(), Error> {
    let given = match &*ENGINE.lock().unwrap_or_else(|e| e.into_inner()) {
        State::Uninitialised { flags: pending } => pending.clone(),
        _ => INITIAL_FLAGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    };
    let given: Vec<&str> = given.split_whitespace().collect();
    if flags.split_whitespace().all(|flag| given.contains(&flag)) {
        return Ok(());
    }
    set_checked_flags(flags)
        .map_err(|_| Error::InvalidInput(format!("V8 already started without {flags:?}")))
}

/// `Err` naming the first flag of `flags` that [`refusal`] refuses.
pub(crate) fn check_flags(flags: &str) -> Result<(), Error> {
    for token in flags.split_whitespace() {
        if let Some(why) = refusal(token) {
            return Err(Error::InvalidInput(format!(
                "V8 flag {token:?} refused: {why}"
            )));
        }
    }
    Ok(())
}

/// Set once the flags went to a worker process: later flags would reach
/// only some contexts.
static FLAGS_SENT_TO_WORKERS: AtomicBool = AtomicBool::new(false);

/// The flags for worker processes (each starts its own V8 with them); from
/// now on `set_flags` refuses, as after the first in-process context.
pub(crate) fn flags_for_workers() -> String {
    let state = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    FLAGS_SENT_TO_WORKERS.store(true, Ordering::Relaxed);
    match &*state {
        State::Uninitialised { flags } => flags.clone(),
        _ => INITIAL_FLAGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }
}

/// The flags V8 runs with in this process, starting it if it has not.
pub(crate) fn started_flags() -> Result<String, Error> {
    ensure_initialised()?;
    Ok(INITIAL_FLAGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone())
}

/// The flags V8 was started with in this process.
static INITIAL_FLAGS: Mutex<String> = Mutex::new(String::new());

pub(crate) fn ensure_initialised() -> Result<(), Error> {
    check_not_forked()?;
    let mut state = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    if let State::Uninitialised { flags } = &*state {
        // SAFETY: registers a handler that only stores an atomic; called
        // once, under the ENGINE lock, before V8 starts any thread.
        let registered = unsafe { libc::pthread_atfork(None, None, Some(note_fork_in_child)) };
        if registered != 0 {
            return Err(Error::Engine("pthread_atfork failed".into()));
        }
        // SAFETY: called once, under the ENGINE lock; the flag bytes outlive the call.
        let status = unsafe { ffi::v8cage_engine_init(flags.as_ptr().cast(), flags.len()) };
        flags.clone_into(&mut INITIAL_FLAGS.lock().unwrap_or_else(|e| e.into_inner()));
        *state = if status == 0 {
            State::Ready
        } else {
            State::Failed
        };
    }
    match *state {
        State::Ready => Ok(()),
        _ => Err(Error::Engine("V8 failed to initialise".into())),
    }
}

/// The linked V8's version, e.g. `"10.2.154.26-node.36"`.
pub fn v8_version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string inside V8.
    let raw = unsafe { std::ffi::CStr::from_ptr(ffi::v8cage_v8_version()) };
    raw.to_string_lossy().into_owned()
}

/// The largest heap limit the linked V8 honours: 4 GiB with pointer
/// compression (every heap lives in that cage), else [`MAX_HEAP_LIMIT`].
///
/// [`MAX_HEAP_LIMIT`]: crate::MAX_HEAP_LIMIT
pub fn max_heap_limit() -> usize {
    // SAFETY: a constant of the shim; no V8 state is touched.
    match unsafe { ffi::v8cage_v8_max_heap_limit() } {
        0 => crate::context::MAX_HEAP_LIMIT,
        engine => engine.min(crate::context::MAX_HEAP_LIMIT),
    }
}

/// Whether V8's own sandbox is on (and its address space reserved) in this
/// process: true for the current V8 as `cargo xtask v8 build` makes it,
/// false for Debian's 10.2. Starts V8 if it has not started.
pub fn v8_sandboxed() -> Result<bool, Error> {
    ensure_initialised()?;
    // SAFETY: V8 is initialised (above); the call only reads its state.
    Ok(unsafe { ffi::v8cage_v8_sandboxed() } == 1)
}

/// Whether ICU's memory (Intl objects) is counted against each context's
/// heap limit: the linked V8's ICU could be routed through v8cage's
/// counters — Debian's V8 (the system ICU) and the current V8 as `cargo
/// xtask v8 build` makes it; not a V8 with ICU built in and hidden (the
/// manylinux prefix). Starts V8 if it has not started.
pub fn icu_memory_counted() -> Result<bool, Error> {
    ensure_initialised()?;
    // SAFETY: V8 is initialised (above); the call reads a flag of the shim.
    Ok(unsafe { ffi::v8cage_icu_memory_counted() } == 1)
}

/// Why V8 must not get `token`, if it must not. V8 reads a flag as one or
/// two dashes, an optional `no`/`no-` negation, a name in which `-` and `_`
/// are the same, and an optional `=value`; the name is what decides, whatever
/// the value or negation (`--help=0` still prints the help and exits).
fn refusal(token: &str) -> Option<&'static str> {
    let body = token
        .strip_prefix("--")
        .or_else(|| token.strip_prefix('-'))?;
    let name = body.split('=').next().unwrap_or_default().replace('_', "-");
    let name = name
        .strip_prefix("no-")
        .or_else(|| name.strip_prefix("no"))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(&name);
    const EXITS: &[&str] = &["help", "h", "version"];
    // The second implies the first (with V8's allow-list for fuzzers).
    const NATIVES: &[&str] = &[
        "allow-natives-syntax",
        "allow-natives-for-differential-fuzzing",
    ];
    if EXITS.contains(&name) {
        Some("V8 prints and exits the process")
    } else if name.starts_with("abort-on-") || name == "hard-abort" {
        Some("V8 aborts the process on what it names")
    } else if NATIVES.contains(&name) {
        Some("scripts could call V8's internal functions, some of which abort the process")
    } else if name.starts_with("print-") || name.starts_with("trace-") {
        Some("V8 writes to the host's standard output")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn every_spelling_of_a_refused_flag_is_refused() {
        for token in [
            "--help",
            "-help",
            "-h",
            "--help=1",
            "--help=true",
            "--help=0",
            "--nohelp",
            "--no-help",
            "--version",
            "--print_flag_values",
            "--print-bytecode",
            "--trace_gc",
            "--abort-on-uncaught-exception",
            "--abort_on_uncaught_exception=1",
            "--hard_abort",
            "--allow-natives-syntax",
            "--allow_natives_syntax=true",
            "--allow-natives-for-differential-fuzzing",
        ] {
            assert!(refusal(token).is_some(), "{token} was accepted");
        }
    }

    #[test]
    fn ordinary_flags_pass() {
        for token in [
            "--jitless",
            "--max-lazy",
            "--no-opt",
            "--noopt",
            "--stack-size=500",
            "--harmony",
            "--expose-gc",
            "--no",
            "notaflag",
        ] {
            assert_eq!(refusal(token), None, "{token}");
        }
    }
}
