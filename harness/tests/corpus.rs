//! Replays every fuzz corpus entry (`corpus/<target>/`) and every minimized
//! reproducer (`corpus/regressions/<target>/`) through the same harness the
//! fuzzers run, on stable Rust. A failing oracle names the file.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use v8cage_harness as fuzzing;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

/// The files in `dir`, sorted (none if it does not exist).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = listing
        .map(|entry| entry.expect("reading a folder").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every file of both folders of `target`; returns how many ran.
fn replay(target: &str) -> usize {
    let root = corpus_root();
    let mut ran = 0;
    for dir in [root.join(target), root.join("regressions").join(target)] {
        for file in entries(&dir) {
            let data = std::fs::read(&file).expect("reading a corpus entry");
            let outcome = catch_unwind(AssertUnwindSafe(|| fuzzing::run(target, &data)));
            match outcome {
                Ok(Some(_)) => ran += 1,
                Ok(None) => panic!("unknown target {target}"),
                Err(_) => panic!("{target}: oracle failed on {}", file.display()),
            }
        }
    }
    ran
}

#[test]
fn eval_corpus() {
    assert!(
        replay("eval") >= 40,
        "the eval corpus has at least 40 seeds"
    );
}

#[test]
fn eval_gen_corpus() {
    assert!(replay("eval_gen") > 0);
}

#[test]
fn roundtrip_corpus() {
    assert!(replay("roundtrip") > 0);
}

#[test]
fn json_corpus() {
    assert!(replay("json") > 0);
}

#[test]
fn worker_reply_corpus() {
    assert!(replay("worker_reply") > 0);
}

#[test]
fn jit_diff_corpus() {
    assert!(replay("jit_diff") > 0);
}

#[test]
fn quickjs_diff_corpus() {
    assert!(replay("quickjs_diff") > 0);
}

#[test]
fn config_diff_corpus() {
    assert!(replay("config_diff") > 0);
}

#[test]
fn api_ops_corpus() {
    assert!(replay("api_ops") > 0);
}

/// The red-team scripts V8 10.2 cannot survive or bound in-process (fatal
/// errors, builtins without interrupt checks, memory outside the heap):
/// in a process context each ends in a typed error within its timeout plus
/// the kill grace, and the host lives on.
#[test]
fn contained_corpus() {
    use std::time::{Duration, Instant};
    use v8cage::{Context, ContextOptions, Error, Isolation, Value};
    // V8 (here: its worker processes) starts the harness's way, whichever
    // test of this process comes first.
    fuzzing::init_engine();
    let options = ContextOptions {
        isolation: Isolation::Process,
        timeout: Some(Duration::from_millis(100)),
        heap_limit: Some(64 << 20),
        ..Default::default()
    };
    let scale: u32 = std::env::var("V8CAGE_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let scripts = entries(&corpus_root().join("contained"));
    assert!(
        scripts.len() >= 10,
        "corpus/contained/ has the red-team scripts"
    );
    // Our MSan V8 is built without Intl (ICU would be uninstrumented):
    // there the ICU scripts end at their first `Intl`.
    let has_intl = Context::new(options.clone())
        .expect("a process context")
        .eval("typeof Intl")
        != Ok(Value::String("undefined".into()));
    for file in scripts {
        let source = std::fs::read_to_string(&file).expect("a script");
        let mut ctx = Context::new(options.clone()).expect("a process context");
        let started = Instant::now();
        let result = ctx.eval(&source);
        let took = started.elapsed();
        match &result {
            Err(Error::Crashed { .. } | Error::OutOfMemory | Error::Timeout) => {}
            Err(Error::Exception { name, .. }) if name == "RangeError" => {}
            Err(Error::Exception { name, message, .. })
                if !has_intl && name == "ReferenceError" && message == "Intl is not defined" => {}
            other => panic!("{}: {other:?}", file.display()),
        }
        assert!(
            took < Duration::from_secs(1) * scale,
            "{}: took {took:?}",
            file.display()
        );
        // The context either survived or says at once that it is gone.
        match ctx.eval("1 + 1") {
            Ok(Value::Number(2.0)) => {}
            Err(Error::Crashed { .. }) => {}
            other => panic!("{}: afterwards {other:?}", file.display()),
        }
        println!("{}: {result:?} in {took:?}", file.display());
    }
    let mut fresh = Context::new(options).expect("a new context");
    assert_eq!(fresh.eval("6 * 7"), Ok(Value::Number(42.0)));
}

/// How `cargo xtask fuzz` triages an `eval`/`eval_gen` timeout: the input
/// alone, in a process context. A V8 stall ends as `Timeout` (the kill); an
/// ordinary input as itself; other targets have no source to re-run.
#[test]
fn a_v8_stall_re_runs_contained() {
    use v8cage::{Error, Value};
    // A stall on both V8s (known_limits.rs).
    let stall = std::fs::read(corpus_root().join("contained/indexof-overrun.js")).unwrap();
    assert!(matches!(
        fuzzing::rerun_contained("eval", &stall),
        Some(Err(Error::Timeout))
    ));
    assert_eq!(
        fuzzing::rerun_contained("eval", b"6 * 7"),
        Some(Ok(Value::from(42)))
    );
    assert!(fuzzing::rerun_contained("json", b"1").is_none());
}

fn target_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = fuzzing::TARGETS.iter().map(|t| t.name).collect();
    names.sort();
    names
}

#[test]
fn every_target_has_a_corpus_folder() {
    for target in target_names() {
        assert!(
            corpus_root().join(target).is_dir(),
            "corpus/{target}/ is missing"
        );
    }
}

/// The stems of the `.rs` files in `dir` (relative to the workspace), sorted.
fn driver_names(dir: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let drivers: Vec<String> = entries(&dir)
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(!drivers.is_empty(), "no drivers in {}", dir.display());
    drivers
}

/// `TARGETS` is the one list; each target has one libFuzzer and one AFL
/// driver, and every driver a target (xtask and build.sh list the drivers).
#[test]
fn every_target_has_exactly_its_drivers() {
    let targets = target_names();
    assert_eq!(driver_names("fuzz/fuzz_targets"), targets);
    assert_eq!(driver_names("afl/src/bin"), targets);
    let manifest = std::fs::read_to_string(corpus_root().join("../fuzz/Cargo.toml")).unwrap();
    for target in &targets {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml has no [[bin]] {target}"
        );
    }
}

/// xorshift64*: reproducible filler bytes without a dependency.
fn filler(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// The generator's promise: every program parses (`eval_gen` panics on a
/// syntax error), whatever the bytes.
#[test]
fn generated_programs_parse() {
    for seed in 0..300 {
        let data = filler(seed, 64 + (seed as usize % 7) * 256);
        fuzzing::eval_gen(&data);
    }
}

/// Random bytes through the structured targets: their oracles must hold.
#[test]
fn structured_targets_hold_on_random_bytes() {
    for seed in 0..150 {
        let data = filler(1000 + seed, 16 + (seed as usize % 5) * 200);
        fuzzing::roundtrip(&data);
        fuzzing::json(&data);
    }
    for seed in 0..20 {
        fuzzing::api_ops(&filler(5000 + seed, 200));
    }
}

/// `cargo xtask repro` prints what a target makes of an input before running it.
#[test]
fn every_target_describes_its_input() {
    let data = filler(42, 300);
    for target in target_names() {
        let decoded = fuzzing::describe(target, &data).expect("a known target");
        assert!(!decoded.is_empty(), "{target}");
    }
    let program = fuzzing::describe("eval_gen", &data).unwrap();
    assert!(program.starts_with("(function () {"), "{program}");
    assert!(fuzzing::describe("no_such_target", &data).is_none());
    assert!(fuzzing::run("no_such_target", &data).is_none());
}
