//! ES modules: [`Context::eval_module`] and the embedder's
//! [`ModuleLoader`], which the shim calls (as the host callback
//! `MODULE_LOADER`, in a worker over its channel like a host function) for
//! every module a static `import` or an `import()` names that the context
//! has not compiled yet.

use std::sync::Arc;
use std::time::Instant;

use crate::{ffi, Context, Error, PromiseState, Value};

/// The loader's signature: `(resolved name, referrer)` to the module's
/// source text, or a message JavaScript sees as an `Error` thrown at the
/// import.
pub type LoadModule = dyn Fn(&str, &str) -> Result<String, String> + Send + Sync;

/// Fetches the source of the modules a context imports
/// ([`ContextOptions::module_loader`](crate::ContextOptions::module_loader)).
///
/// A module is known by its resolved name: `./x` and `../x` taken relative
/// to the importing module's directory, `/x` from the root, a bare
/// specifier (`"lodash"`) as written. The loader is called with that name
/// and the importing module's name (`""` for an `import()` in a classic
/// script), on the evaluating thread, inside the evaluation's timeout,
/// once per name and context: later imports of the name get the same
/// module. Each source it returns is bounded by `max_result_bytes`.
#[derive(Clone)]
pub struct ModuleLoader(Arc<LoadModule>);

impl ModuleLoader {
    pub fn new(
        load: impl Fn(&str, &str) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        ModuleLoader(Arc::new(load))
    }

    pub(crate) fn load(&self, specifier: &str, referrer: &str) -> Result<String, String> {
        (self.0)(specifier, referrer)
    }
}

impl std::fmt::Debug for ModuleLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModuleLoader")
    }
}

/// Two options are equal when they hold the same loader.
impl PartialEq for ModuleLoader {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Context {
    /// Evaluates `source` as the ES module `name` and returns its namespace
    /// (an object of its exports; a [`Handle`](crate::Handle) with
    /// [`object_handles`](crate::ContextOptions::object_handles)).
    ///
    /// Its imports come from the context's
    /// [`module_loader`](crate::ContextOptions::module_loader); a module
    /// evaluated under a name already loaded replaces it for later imports.
    /// A top-level `await` settles within the context's timeout, running
    /// timers as they come due (with
    /// [`event_loop`](crate::ContextOptions::event_loop)); one that cannot
    /// settle is [`Error::InvalidInput`]. The source counts against
    /// `max_result_bytes`, as call arguments do.
    pub fn eval_module(&mut self, name: &str, source: &str) -> Result<Value, Error> {
        let started = Instant::now();
        let reply = self.handle_op(
            ffi::OP_EVAL_MODULE,
            0,
            &[Value::from(name), Value::from(source)],
        )?;
        let (settled, value) = match reply {
            Value::Array(pair) if pair.len() == 2 => {
                let mut pair = pair.into_iter();
                (pair.next(), pair.next().unwrap_or(Value::Undefined))
            }
            _ => return Err(Error::Conversion("malformed module result".into())),
        };
        if settled == Some(Value::Bool(true)) {
            return Ok(value);
        }
        // The top-level await is pending: `value` promises the namespace.
        let state = if self.options().event_loop {
            let wait = self
                .options()
                .timeout
                .map(|t| t.saturating_sub(started.elapsed()));
            self.await_promise(&value, wait)?
        } else {
            self.promise_state(&value)?
        };
        match state {
            PromiseState::Fulfilled(namespace) => Ok(namespace),
            // Reported as a throw is: name, message, stack, location.
            PromiseState::Rejected(_) => {
                let id = self.target_id(&value)?;
                self.handle_op(ffi::OP_OUTCOME, id, &[])
            }
            PromiseState::Pending if self.options().event_loop => Err(Error::Timeout),
            PromiseState::Pending => Err(Error::InvalidInput(
                "the module's top-level await cannot settle: nothing is left to run \
                 (timers need ContextOptions::event_loop)"
                    .into(),
            )),
        }
    }
}
