//! The differential oracles can fail: a difference planted in one
//! configuration (feature `planted-differences`) is reported by each, and
//! the TurboFan protocol really optimises and deoptimises the target.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use v8cage::{Context, ContextOptions, Value};
use v8cage_harness::oracles::differential::{driver, optimizing_tiers, INTERPRETED};
use v8cage_harness::planted::plant_difference;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the target's seed folder")
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// What `target` said of each seed with `configuration` perturbed (or
/// nothing, with `None`): its finding, or whether both runs were compared
/// (no limit cut one short).
fn findings(target: &str, configuration: Option<&'static str>) -> Vec<Result<bool, String>> {
    // The sanitizer jobs run everything several times slower: the runs get
    // the time they need there too, or too few are compared.
    let scale = std::env::var("V8CAGE_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    v8cage_harness::scale_timeouts(scale);
    plant_difference(configuration);
    let said = seeds(target)
        .iter()
        .map(|data| {
            catch_unwind(AssertUnwindSafe(|| v8cage_harness::run(target, data)))
                .map(|outcome| {
                    let shown = outcome.expect("a known target").to_string();
                    // A stack overflow in one engine is a limit too: the
                    // oracles excuse it (triage), planted mark or not. (In
                    // the MSan build QuickJS's frames are large enough
                    // for a seed's printer to overflow there.)
                    let limits = [
                        "Err(Timeout)",
                        "Err(OutOfMemory)",
                        "Err(Terminated)",
                        "Cut(",
                        "Maximum call stack size exceeded",
                    ];
                    !limits.iter().any(|limit| shown.contains(limit))
                })
                .map_err(|payload| match payload.downcast::<String>() {
                    Ok(text) => *text,
                    Err(_) => "(no message)".into(),
                })
        })
        .collect();
    plant_difference(None);
    said
}

fn assert_reports_planted(target: &str, configuration: &'static str, expected: &str) {
    // Findings are the point here: only other panics reach the hook.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.payload().downcast_ref::<String>();
        if !text.is_some_and(|t| t.contains(" disagree\n")) {
            default_hook(info);
        }
    }));
    let clean = findings(target, None);
    let perturbed = findings(target, Some(configuration));
    for (n, (clean, perturbed)) in clean.iter().zip(&perturbed).enumerate() {
        match (clean, perturbed) {
            (Ok(true), Err(message)) => {
                assert!(message.starts_with(expected), "seed {n}: {message}");
                assert!(message.contains('~'), "seed {n}: the mark is shown");
            }
            // A run cut by a limit (a loaded machine) is not compared.
            (Ok(false), _) | (_, Ok(false)) => {}
            other => panic!("{target}, seed {n}: {other:?}"),
        }
    }
    let compared = clean
        .iter()
        .zip(&perturbed)
        .filter(|(c, p)| matches!(c, Ok(true)) && !matches!(p, Ok(false)))
        .count();
    assert!(
        compared * 2 > clean.len(),
        "{compared} of {} compared",
        clean.len()
    );
}

#[test]
fn jit_diff_reports_a_difference_planted_in_turbofan() {
    assert_reports_planted(
        "jit_diff",
        "TurboFan",
        "jit_diff: interpreter and TurboFan disagree",
    );
}

#[test]
fn quickjs_diff_reports_a_difference_planted_in_quickjs() {
    assert_reports_planted(
        "quickjs_diff",
        "QuickJS",
        "quickjs_diff: V8 and QuickJS disagree",
    );
}

#[test]
fn config_diff_reports_a_difference_planted_in_the_flagged_worker() {
    assert_reports_planted("config_diff", "flagged", "config_diff: default and ");
}

#[test]
fn each_optimizing_protocol_optimises_then_deoptimises_the_target() {
    v8cage_harness::init_engine();
    // No timeout: what is checked is the optimisation status, not speed.
    let mut ctx = Context::new(ContextOptions {
        timeout: None,
        ..v8cage_harness::differential_options()
    })
    .unwrap();
    let tiers = optimizing_tiers();
    let names: Vec<&str> = tiers.iter().map(|tier| tier.name).collect();
    match v8cage::testing::maglev_status_bit() {
        Some(_) => assert_eq!(names, ["Maglev", "TurboFan"]),
        None => assert_eq!(names, ["TurboFan"]),
    }
    for tier in tiers {
        // The bit of V8's optimisation status that says: this tier's code.
        let optimized = match tier.name {
            "Maglev" => v8cage::testing::maglev_status_bit().unwrap(),
            _ => v8cage::testing::optimized_status_bit(),
        };
        let program = format!(
            "(function () {{
            function target(a) {{ return %GetOptimizationStatus(target) & {optimized}; }}
            return [target, [[1], ['x']]];
        }})"
        );
        let mut printout = |protocol| match ctx.eval(&driver(protocol, &program, false)).unwrap() {
            Value::String(text) => text,
            other => panic!("{other:?}"),
        };
        let hot = printout(tier);
        let expected_hot = [
            "r0.0 return 0".to_string(),
            "r0.1 return 0".to_string(),
            format!("r1.0 return {optimized}"),
            format!("r1.1 return {optimized}"),
            format!("r2.0 return {optimized}"),
            format!("r2.1 return {optimized}"),
            "r3.0 return 0".to_string(),
            "r3.1 return 0".to_string(),
        ];
        assert_eq!(
            hot.lines().collect::<Vec<_>>(),
            expected_hot,
            "{}",
            tier.name
        );
        let cold = printout(&INTERPRETED);
        assert!(
            cold.lines().all(|line| line.ends_with("return 0")),
            "{cold}"
        );
    }
}
