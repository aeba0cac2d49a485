//! The test fence's V8 intrinsics (`testing::enable_fuzzing_natives`), in a
//! process of their own: V8's flags are process-wide.

use v8cage::{set_flags, testing, Context, ContextOptions, Error, Isolation, Value};

#[test]
fn intrinsics_work_for_the_harness_and_stay_soft_and_refused_elsewhere() {
    testing::enable_fuzzing_natives().expect("before the first context");
    // Again: idempotent, also once V8 runs.
    testing::enable_fuzzing_natives().unwrap();
    let mut ctx = Context::new(ContextOptions::default()).unwrap();
    testing::enable_fuzzing_natives().expect("V8 started with them");

    // TurboFan on request: the function reports itself optimised.
    let optimized = testing::optimized_status_bit();
    let status = ctx
        .eval(&format!(
            "function f(x) {{ return x + 1 }}
             %PrepareFunctionForOptimization(f); f(1); f(2);
             %OptimizeFunctionOnNextCall(f); f(3);
             %GetOptimizationStatus(f) & {optimized}"
        ))
        .unwrap();
    assert_eq!(status, Value::from(optimized));
    // Outside V8's allow-list for fuzzers an intrinsic is `undefined`, and
    // an allowed one given nonsense does nothing: the process lives on.
    for source in [
        "%AbortJS('no')",
        "%DebugPrint(1)",
        "%SystemBreak()",
        "%OptimizeFunctionOnNextCall(12)",
        "%DeoptimizeNow()",
    ] {
        assert_eq!(ctx.eval(source).unwrap(), Value::Undefined, "{source}");
    }
    // Workers start with the host's flags: intrinsics parse there too.
    let mut worker = Context::new(ContextOptions {
        isolation: Isolation::Process,
        ..ContextOptions::default()
    })
    .unwrap();
    assert_eq!(worker.eval("%DeoptimizeNow(); 7"), Ok(Value::from(7)));
    // The public way in stays shut.
    assert!(matches!(
        set_flags("--allow-natives-syntax"),
        Err(Error::InvalidInput(_))
    ));
}
