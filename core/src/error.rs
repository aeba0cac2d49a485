//! The typed errors every v8cage operation returns.

/// Why an evaluation or call did not produce a value. The context that
/// returned it stays usable (see each variant), except after `Crashed`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source does not parse. `line` and `column` are 1-based.
    #[error("SyntaxError: {message} (line {line}, column {column})")]
    Syntax {
        message: String,
        line: u32,
        column: u32,
    },
    /// JavaScript threw. For `throw 1` or `throw {..}` without a `name`,
    /// `name` is empty and `message` describes the thrown value.
    #[error("{}{message}", if name.is_empty() { String::new() } else { format!("{name}: ") })]
    Exception {
        name: String,
        message: String,
        stack: Option<String>,
        /// Where it was thrown, when V8 knows.
        location: Option<Box<Location>>,
    },
    /// The context's timeout ran out (during evaluation or conversion).
    #[error("evaluation timed out")]
    Timeout,
    /// The evaluating thread used up the context's
    /// [`cpu_time_limit`](crate::ContextOptions::cpu_time_limit) (CPU time,
    /// not wall-clock time: that is [`Error::Timeout`]).
    #[error("CPU time limit reached")]
    CpuTimeLimit,
    /// The context reached its heap limit; the runaway script was stopped.
    #[error("JavaScript heap limit reached")]
    OutOfMemory,
    /// A [`TerminateHandle`](crate::TerminateHandle) stopped the evaluation.
    #[error("evaluation terminated")]
    Terminated,
    /// The result cannot be copied out within limits (cycle, depth, size,
    /// a getter that throws, a Symbol...).
    #[error("result cannot be converted: {0}")]
    Conversion(String),
    /// The input cannot be given to V8 (bad arguments, unknown function,
    /// oversized source, flags set too late...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The worker process of an [`Isolation::Process`](crate::Isolation)
    /// context died (a V8 fatal error, a signal, the sandbox refusing a
    /// system call) or broke the protocol. `message` is V8's last words when
    /// it left any. The context is lost: every later call gives `Crashed`
    /// at once; create a new one.
    #[error("the context's worker process crashed: {message}")]
    Crashed {
        signal: Option<i32>,
        message: String,
    },
    /// V8 itself failed (could not create an isolate, internal error).
    #[error("engine error: {0}")]
    Engine(String),
}

/// Where an exception was thrown, as V8 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The script's name (`<anonymous>` for evaluated code).
    pub script: String,
    /// 1-based line.
    pub line: u32,
    /// 0-based column where the throwing expression starts.
    pub column: u32,
    /// The text of that line.
    pub source_line: String,
}
