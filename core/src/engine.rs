//! Process-wide V8 initialisation: once, lazily, thread-safely.

use std::sync::Mutex;

use crate::{ffi, Error};

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
pub fn set_flags(flags: &str) -> Result<(), Error> {
    // V8 prints its help and exits the process for these.
    if flags
        .split_whitespace()
        .any(|f| matches!(f.trim_start_matches('-'), "help" | "h"))
    {
        return Err(Error::InvalidInput(
            "--help would make V8 exit the process".into(),
        ));
    }
    let mut state = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
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

pub(crate) fn ensure_initialised() -> Result<(), Error> {
    let mut state = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    if let State::Uninitialised { flags } = &*state {
        // SAFETY: called once, under the ENGINE lock; the flag bytes outlive the call.
        let status = unsafe { ffi::v8cage_engine_init(flags.as_ptr().cast(), flags.len()) };
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
