//! Oracles: what a result must mean, beyond "nothing crashed". Each panics
//! with its explanation when it fails; every driver reports a panic as a
//! crash.

use std::time::Duration;

use v8cage::{Context, Error, Value};

pub mod differential;
pub mod json;

/// The "survivors keep working" oracle: `1+1` still gives 2. `false` when the
/// context answers `OutOfMemory` because data kept alive by earlier scripts
/// exceeds its heap limit (documented behaviour: it must be replaced). Any
/// other answer is a bug.
pub fn still_usable(ctx: &mut Context) -> bool {
    // First under the context's own timeout: with an event loop, every entry
    // first runs the timers that came due, and an endless one (the input's
    // `setTimeout(() => { for (;;) {} })`) uses up this entry's timeout,
    // not the next one's.
    if ctx.eval("1+1") == Ok(Value::Number(2.0)) {
        return true;
    }
    let timeout = ctx.options().timeout;
    // A generous bound for the check itself: the machine may be loaded.
    ctx.set_timeout(Some(Duration::from_secs(10)));
    let answer = ctx.eval("1+1");
    ctx.set_timeout(timeout);
    match answer {
        Ok(Value::Number(2.0)) => true,
        Err(Error::OutOfMemory) => false,
        other => panic!("context broken after the input: `1+1` gave {other:?}"),
    }
}

/// The "typed errors only" oracle for evaluations: `Engine` means the shim
/// failed internally and `InvalidInput` cannot come from source text.
pub fn assert_typed(result: &Result<Value, Error>) {
    match result {
        Err(e @ (Error::Engine(_) | Error::InvalidInput(_))) => {
            panic!("evaluation gave an untyped/internal error: {e:?}")
        }
        Err(Error::Syntax { line, .. }) if *line == 0 => {
            panic!("syntax error without a line: {result:?}")
        }
        _ => {}
    }
}
