//! QuickJS (quickjs-ng, built from the `rquickjs` crate's sources) as the
//! second engine of `quickjs_diff`: one runtime per thread with a memory
//! limit, a stack limit and a deadline, a fresh context per program.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{Context, Error, Runtime};

use crate::oracles::differential::Printout;

/// Like the V8 side's limits (`fuzz_options`): a computation that runs into
/// one is cut, not compared.
const MEMORY_LIMIT: usize = 64 << 20;
/// Sanitizer builds compile QuickJS's C instrumented and unoptimised, with
/// frames several times larger: under MSan at 512 KiB most seeds' printers
/// overflowed (2 of 24 compared), so nothing was compared there.
const STACK_LIMIT: usize = if cfg!(v8cage_sanitized) {
    1536 << 10
} else {
    512 << 10
};

struct Engine {
    runtime: Runtime,
    deadline: Rc<Cell<Instant>>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

fn engine() -> Engine {
    let runtime = Runtime::new().expect("creating a QuickJS runtime");
    runtime.set_memory_limit(MEMORY_LIMIT);
    runtime.set_max_stack_size(STACK_LIMIT);
    let deadline = Rc::new(Cell::new(Instant::now()));
    let watched = Rc::clone(&deadline);
    runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() >= watched.get())));
    Engine { runtime, deadline }
}

/// Runs a differential driver script (see
/// [`driver`](crate::oracles::differential::driver)) and returns its
/// printout.
pub fn run(source: &str, timeout: Duration) -> Printout {
    ENGINE.with(|slot| {
        let mut slot = slot.borrow_mut();
        let engine = slot.get_or_insert_with(engine);
        engine.deadline.set(Instant::now() + timeout);
        let context = Context::full(&engine.runtime).expect("creating a QuickJS context");
        // Sloppy global code, as V8 runs it (rquickjs forces strict mode
        // by default, which unmaps `arguments`).
        let mut options = EvalOptions::default();
        options.strict = false;
        let printout =
            context.with(
                |ctx| match ctx.eval_with_options::<String, _>(source, options) {
                    Ok(text) => Printout::Lines(text.lines().map(str::to_owned).collect()),
                    Err(Error::Exception) => {
                        let thrown = ctx.catch();
                        let (name, message) = match thrown.as_exception() {
                            Some(e) => (
                                e.get::<_, String>("name").unwrap_or_default(),
                                e.message().unwrap_or_default(),
                            ),
                            None => ("value".into(), format!("{thrown:?}")),
                        };
                        if message == "interrupted" {
                            Printout::Cut("timeout".into())
                        } else if message == "out of memory" {
                            Printout::Cut("out of memory".into())
                        } else {
                            Printout::Lines(vec![format!("uncaught throw {name}: {message}")])
                        }
                    }
                    Err(other) => panic!("QuickJS failed to run a driver: {other}"),
                },
            );
        drop(context);
        // Reclaims cycles now, not when the next program's allocations
        // reach the memory limit.
        engine.runtime.run_gc();
        printout
    })
}
