//! ES modules: `Context::eval_module`, static and dynamic imports through
//! the embedder's `ModuleLoader`, in both isolation modes.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstest::rstest;
use v8cage::{Context, ContextOptions, Error, Isolation, ModuleLoader, Value};

/// The loader's requests, each `(name, referrer)`.
type Requests = Arc<Mutex<Vec<(String, String)>>>;

/// A loader serving `files` by resolved name, recording each request.
fn serving(files: &[(&str, &str)]) -> (ModuleLoader, Requests) {
    let files: HashMap<String, String> = files
        .iter()
        .map(|(name, source)| (name.to_string(), source.to_string()))
        .collect();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&asked);
    let loader = ModuleLoader::new(move |name, referrer| {
        record
            .lock()
            .unwrap()
            .push((name.to_owned(), referrer.to_owned()));
        files
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no module named '{name}'"))
    });
    (loader, asked)
}

fn with_loader(isolation: Isolation, loader: ModuleLoader) -> Context {
    Context::new(ContextOptions {
        timeout: Some(common::generous()),
        module_loader: Some(loader),
        ..common::options(isolation)
    })
    .unwrap()
}

fn field(value: &Value, key: &str) -> Value {
    match value {
        Value::Object(fields) => fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no export '{key}' in {value:?}")),
        other => panic!("not a namespace object: {other:?}"),
    }
}

fn exception_name_and_message(error: Error) -> (String, String) {
    match error {
        Error::Exception { name, message, .. } => (name, message),
        other => panic!("not an exception: {other:?}"),
    }
}

#[rstest]
fn a_module_gives_its_namespace(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::generous_context(isolation);
    let namespace = ctx
        .eval_module(
            "main.mjs",
            "export const answer = 42; export default 'd'; const hidden = 1;",
        )
        .unwrap();
    assert_eq!(field(&namespace, "answer"), Value::Number(42.0));
    assert_eq!(field(&namespace, "default"), Value::from("d"));
    assert!(matches!(&namespace, Value::Object(f) if f.len() == 2));
}

#[rstest]
fn static_imports_resolve_relative_to_the_importer_and_load_once(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let (loader, asked) = serving(&[
        (
            "lib/a.mjs",
            "import { b } from './b.mjs'; export const a = b + 1;",
        ),
        ("lib/b.mjs", "export const b = 40;"),
        (
            "util.mjs",
            "import { b } from './lib/sub/../b.mjs'; export const u = b;",
        ),
    ]);
    let mut ctx = with_loader(isolation, loader);
    let namespace = ctx
        .eval_module(
            "main.mjs",
            "import { a } from './lib/a.mjs'; import { u } from 'util.mjs'; export const sum = a + u + 1;",
        )
        .unwrap();
    assert_eq!(field(&namespace, "sum"), Value::Number(82.0));
    let mut asked = asked.lock().unwrap().clone();
    asked.sort();
    let names: Vec<&str> = asked.iter().map(|(name, _)| name.as_str()).collect();
    // lib/b.mjs is imported twice (by two spellings), loaded once.
    assert_eq!(names, ["lib/a.mjs", "lib/b.mjs", "util.mjs"]);
    assert_eq!(asked[0].1, "main.mjs", "the referrer is the importer");
    assert!(["lib/a.mjs", "util.mjs"].contains(&asked[1].1.as_str()));
}

#[rstest]
fn import_cycles_work_as_in_browsers(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let (loader, _) = serving(&[(
        "b.mjs",
        "import { a } from './a.mjs'; export function b() { return a() + 'b'; }",
    )]);
    let mut ctx = with_loader(isolation, loader);
    let namespace = ctx
        .eval_module(
            "a.mjs",
            "import { b } from './b.mjs'; export function a() { return 'a'; } export const out = b();",
        )
        .unwrap();
    assert_eq!(field(&namespace, "out"), Value::from("ab"));
}

#[rstest]
fn dynamic_import_works_from_classic_scripts_and_modules(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let (loader, asked) = serving(&[
        ("m.mjs", "export const x = 7;"),
        ("dir/dep.mjs", "export const v = 'dep';"),
    ]);
    let mut ctx = with_loader(isolation, loader);
    assert_eq!(
        ctx.eval("import('m.mjs').then(ns => ns.x)").unwrap(),
        Value::Number(7.0)
    );
    let namespace = ctx
        .eval_module(
            "dir/main.mjs",
            "export const v = (await import('./dep.mjs')).v;",
        )
        .unwrap();
    assert_eq!(field(&namespace, "v"), Value::from("dep"));
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked[0],
        ("m.mjs".into(), String::new()),
        "a script has no name"
    );
    assert_eq!(asked[1], ("dir/dep.mjs".into(), "dir/main.mjs".into()));
}

#[rstest]
fn top_level_await_settles_with_the_event_loop(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(common::generous()),
        event_loop: true,
        ..common::options(isolation)
    })
    .unwrap();
    let namespace = ctx
        .eval_module(
            "wait.mjs",
            "await new Promise(r => setTimeout(r, 5)); export const done = true;",
        )
        .unwrap();
    assert_eq!(field(&namespace, "done"), Value::Bool(true));
    let failed = ctx.eval_module(
        "late.mjs",
        "await new Promise(r => setTimeout(r, 5)); throw new RangeError('late');",
    );
    let (name, message) = exception_name_and_message(failed.unwrap_err());
    assert_eq!((name.as_str(), message.as_str()), ("RangeError", "late"));
}

#[rstest]
fn a_top_level_await_that_cannot_settle_is_an_error(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::generous_context(isolation);
    let never = ctx.eval_module("never.mjs", "await new Promise(() => {});");
    assert!(
        matches!(&never, Err(Error::InvalidInput(m)) if m.contains("cannot settle")),
        "{never:?}"
    );
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(Duration::from_millis(100)),
        event_loop: true,
        ..common::options(isolation)
    })
    .unwrap();
    assert_eq!(
        ctx.eval_module("never.mjs", "await new Promise(() => {});"),
        Err(Error::Timeout)
    );
}

#[rstest]
fn a_syntax_error_in_an_imported_module_names_it(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let (loader, _) = serving(&[("broken.mjs", "export const a = 1;\nexport const = ;\n")]);
    let mut ctx = with_loader(isolation, loader);
    match ctx.eval_module("main.mjs", "import './broken.mjs';") {
        Err(Error::Exception { name, location, .. }) => {
            assert_eq!(name, "SyntaxError");
            let location = location.expect("where it is");
            assert_eq!((location.script.as_str(), location.line), ("broken.mjs", 2));
        }
        other => panic!("{other:?}"),
    }
    // The module's own syntax error is a SyntaxError of the evaluation.
    assert!(matches!(
        ctx.eval_module("main.mjs", "\n\nexport default ;"),
        Err(Error::Syntax { line: 3, .. })
    ));
    assert_eq!(ctx.eval("1 + 1").unwrap(), Value::Number(2.0));
}

#[rstest]
fn a_loader_error_is_a_javascript_exception_at_the_import(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let (loader, _) = serving(&[]);
    let mut ctx = with_loader(isolation, loader);
    let (name, message) = exception_name_and_message(
        ctx.eval_module("main.mjs", "import 'gone.mjs';")
            .unwrap_err(),
    );
    assert_eq!(
        (name.as_str(), message.as_str()),
        ("Error", "no module named 'gone.mjs'")
    );
    assert_eq!(
        ctx.eval("import('gone.mjs').catch(e => 'caught: ' + e.message)")
            .unwrap(),
        Value::from("caught: no module named 'gone.mjs'")
    );
}

#[rstest]
fn without_a_loader_an_import_throws(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::generous_context(isolation);
    let (_, message) =
        exception_name_and_message(ctx.eval_module("main.mjs", "import 'x.mjs';").unwrap_err());
    assert!(message.contains("no module loader"), "{message}");
    let caught = ctx.eval("import('x.mjs').catch(e => e.message)").unwrap();
    assert!(
        matches!(&caught, Value::String(m) if m.contains("no module loader")),
        "{caught:?}"
    );
    assert_eq!(ctx.eval("1 + 1").unwrap(), Value::Number(2.0));
}

#[rstest]
fn a_loader_that_panics_is_an_exception(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = with_loader(isolation, ModuleLoader::new(|_, _| panic!("loader bug")));
    let (_, message) =
        exception_name_and_message(ctx.eval_module("main.mjs", "import 'x.mjs';").unwrap_err());
    assert!(message.contains("panicked"), "{message}");
}

#[rstest]
fn loading_counts_against_the_timeout(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    // Each load takes 50 ms and names one more module: only the timeout
    // can end the chain of imports.
    let loader = ModuleLoader::new(move |name, _| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        Ok(format!("import './{}.mjs'; // {name}", n + 1))
    });
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(Duration::from_millis(100)),
        module_loader: Some(loader),
        ..common::options(isolation)
    })
    .unwrap();
    assert_eq!(
        ctx.eval_module("main.mjs", "import './0.mjs';"),
        Err(Error::Timeout)
    );
    assert!(calls.load(Ordering::SeqCst) >= 1);
    ctx.set_timeout(Some(common::generous()));
    assert_eq!(ctx.eval("1 + 1").unwrap(), Value::Number(2.0));
}

#[rstest]
fn a_source_over_max_result_bytes_is_refused_at_the_import(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let big = format!("export const s = '{}';", "x".repeat(4096));
    let loader = ModuleLoader::new(move |_, _| Ok(big.clone()));
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(common::generous()),
        max_result_bytes: 1024,
        module_loader: Some(loader),
        ..common::options(isolation)
    })
    .unwrap();
    let (_, message) = exception_name_and_message(
        ctx.eval_module("main.mjs", "import 'big.mjs';")
            .unwrap_err(),
    );
    assert!(message.contains("big.mjs"), "{message}");
}

#[rstest]
fn a_module_that_throws_reports_where(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = common::generous_context(isolation);
    match ctx.eval_module("thrower.mjs", "const a = 1;\nthrow new TypeError('no');") {
        Err(Error::Exception {
            name,
            message,
            location,
            ..
        }) => {
            assert_eq!((name.as_str(), message.as_str()), ("TypeError", "no"));
            let location = location.expect("where it is");
            assert_eq!(
                (location.script.as_str(), location.line),
                ("thrower.mjs", 2)
            );
        }
        other => panic!("{other:?}"),
    }
    // Evaluated again under its name, the module is a new one.
    let namespace = ctx
        .eval_module("thrower.mjs", "export const ok = 1;")
        .unwrap();
    assert_eq!(field(&namespace, "ok"), Value::Number(1.0));
}

/// A loader that serves an endless chain: `n.mjs` imports `n+1.mjs`
/// (statically, or with `import()`), each module also holding `padding`.
fn endless_chain(dynamic: bool, padding: usize) -> ModuleLoader {
    ModuleLoader::new(move |name, _| {
        let n: u64 = name
            .trim_end_matches(".mjs")
            .parse()
            .map_err(|_| "bad name")?;
        let pad = "x".repeat(padding);
        Ok(if dynamic {
            format!(
                "export const pad = '{pad}'; await import('./{}.mjs');",
                n + 1
            )
        } else {
            format!("export const pad = '{pad}'; import './{}.mjs';", n + 1)
        })
    })
}

#[rstest]
fn an_endless_static_import_chain_ends_in_a_range_error(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = with_loader(isolation, endless_chain(false, 0));
    let (name, _) =
        exception_name_and_message(ctx.eval_module("main.mjs", "import '0.mjs';").unwrap_err());
    assert_eq!(
        name, "RangeError",
        "V8's stack check, not a native overflow"
    );
    assert_eq!(ctx.eval("1 + 1").unwrap(), Value::Number(2.0));
}

#[rstest]
fn modules_count_against_the_heap_limit(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(common::generous()),
        heap_limit: Some(32 << 20),
        module_loader: Some(endless_chain(true, 64 << 10)),
        ..common::options(isolation)
    })
    .unwrap();
    assert_eq!(
        ctx.eval_module("main.mjs", "await import('./0.mjs');"),
        Err(Error::OutOfMemory)
    );
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(common::generous()),
        heap_limit: Some(32 << 20),
        ..common::options(isolation)
    })
    .unwrap();
    assert_eq!(
        ctx.eval_module(
            "grow.mjs",
            "const a = []; for (;;) a.push(new Array(1000).fill(1.5));"
        ),
        Err(Error::OutOfMemory)
    );
}
