//! # v8cage
//!
//! A hardened V8 `eval` core: hostile JavaScript, bad input and many threads
//! cannot crash, leak or hang the host. Every failure is a typed [`Error`];
//! the process, the other contexts and (where possible) the same context keep
//! working.
//!
//! ```
//! use std::time::Duration;
//! use v8cage::{Context, ContextOptions, Error, Value};
//!
//! let mut ctx = Context::new(ContextOptions {
//!     timeout: Some(Duration::from_millis(100)),
//!     heap_limit: Some(64 << 20),
//!     ..Default::default()
//! })?;
//! assert_eq!(ctx.eval("[1, 'a', {b: null}]")?, Value::Array(vec![
//!     Value::Number(1.0),
//!     Value::from("a"),
//!     Value::Object(vec![("b".into(), Value::Null)]),
//! ]));
//! ctx.eval("function add(a, b) { return a + b }")?;
//! assert_eq!(ctx.call("add", &[Value::from(1.5), Value::from(2)])?, Value::Number(3.5));
//! assert_eq!(ctx.eval("while (true) {}"), Err(Error::Timeout));
//! assert_eq!(ctx.eval("1 + 1")?, Value::Number(2.0)); // still usable
//! # Ok::<(), v8cage::Error>(())
//! ```
//!
//! ## How JavaScript values map to [`Value`]
//!
//! `undefined`, `null`, booleans, numbers (including `-0`, `NaN`,
//! `±Infinity`), BigInt (sign and words; decimal on request), strings (lone surrogates become
//! U+FFFD), arrays (holes read as `undefined`), `Date`, `ArrayBuffer` and
//! typed arrays (their bytes) and functions (their name) map to the variant
//! of the same name. Any other object becomes `Object` with its own
//! enumerable string keys in JS order. Symbols, cycles, nesting deeper than
//! [`ContextOptions::max_depth`] and results larger than
//! [`ContextOptions::max_result_bytes`] give [`Error::Conversion`], and so do
//! BigInts beyond 2^20 bits; as arguments they give [`Error::InvalidInput`].

mod bigint;
mod context;
mod cpu_time;
mod engine;
mod error;
mod ffi;
mod function;
mod handle;
mod host;
mod local;
mod module;
mod process;
mod snapshot;
mod spare;
mod stack;
mod value;
mod value_serde;
mod watchdog;
mod wire;

/// Only for v8cage's own tests and benches, each part behind its feature.
#[cfg(any(
    feature = "planted-bugs",
    feature = "bench-floor",
    feature = "sandbox-probes",
    feature = "reply-decoder",
    feature = "fuzzing-natives",
    feature = "spare-counts"
))]
#[doc(hidden)]
pub mod testing;

pub use bigint::{BigInt, MAX_BIGINT_BITS};
pub use context::{
    Context, ContextOptions, Events, HeapStats, Isolation, PromiseLook, PromiseWait,
    TerminateHandle, ThreadPin, HOST_BYTES_PER_RESULT_BYTE, MAX_HEAP_LIMIT, MIN_HEAP_LIMIT,
};
pub use engine::{icu_memory_counted, max_heap_limit, set_flags, v8_sandboxed, v8_version};
pub use error::{Error, Location};
pub use function::Function;
pub use handle::{Handle, HandleKind, PromiseState};
pub use module::{LoadModule, ModuleLoader};
pub use process::{
    prestart_worker, set_worker_command, IsolationReport, LOADED_BY_DLOPEN_ENV, WORKER_ENV,
};
pub use snapshot::Snapshot;
pub use spare::{prestart_context, set_spare_contexts};
pub use value::{Value, MAX_SAFE_INTEGER};
pub use wire::Event;

/// The README's Rust example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctest;
