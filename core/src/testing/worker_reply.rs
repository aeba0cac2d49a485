//! The host's side of a process context's reply, without a worker (feature
//! `reply-decoder`): the `worker_reply` fuzz target plays a compromised
//! worker that sends arbitrary bytes.

use crate::{Context, ContextOptions, Error, Value};

/// Reads `frame` as a reply arriving on a worker's socket (length, status,
/// shim output) and decodes it exactly as a process context does, under
/// `options`' limits. Bytes that do not parse give [`Error::Crashed`].
pub fn decode(frame: &[u8], options: &ContextOptions) -> Result<Value, Error> {
    crate::process::read_and_decode_reply(frame, options)
}

/// The reply frame a worker would send for `source` evaluated in `ctx` (an
/// in-process context): seeds for the fuzz target. `None` for a process
/// context.
pub fn frame_for(ctx: &mut Context, source: &str) -> Option<Vec<u8>> {
    ctx.reply_frame(source)
}
