//! Startup snapshots: `Snapshot::create`, its bytes, and contexts started
//! from it in both isolation modes.

mod common;

use std::time::Duration;

use rstest::rstest;
use v8cage::{Context, ContextOptions, Error, Isolation, Snapshot, Value};

const SETUP: &str = "globalThis.base = 41;
function next() { return base + 1; }
class Greeter { constructor(name) { this.name = name; } hello() { return 'hello ' + this.name; } }
globalThis.table = Array.from({ length: 1000 }, (_, i) => i * i);
// a final line comment";

fn from(snapshot: &Snapshot, isolation: Isolation) -> Context {
    Context::new(ContextOptions {
        timeout: Some(common::generous()),
        snapshot: Some(snapshot.clone()),
        ..common::options(isolation)
    })
    .unwrap()
}

#[rstest]
fn a_context_starts_with_the_setup_state(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let snapshot = Snapshot::create(SETUP).unwrap();
    let mut ctx = from(&snapshot, isolation);
    assert_eq!(
        ctx.eval("[next(), new Greeter('v8').hello(), table[999]]")
            .unwrap(),
        Value::Array(vec![42.into(), "hello v8".into(), 998001.into()])
    );
    // Each context gets its own copy of the state.
    ctx.eval("base = 0").unwrap();
    let mut other = from(&snapshot, isolation);
    assert_eq!(other.eval("next()").unwrap(), Value::Number(42.0));
}

#[rstest]
fn bytes_round_trip_and_keep_the_event_loop_and_builtins(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let bytes = Snapshot::create(SETUP).unwrap().to_bytes();
    let snapshot = Snapshot::from_bytes(bytes).unwrap();
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(common::generous()),
        snapshot: Some(snapshot),
        event_loop: true,
        ..common::options(isolation)
    })
    .unwrap();
    assert_eq!(
        ctx.eval("[typeof setTimeout, typeof WebAssembly, next()]")
            .unwrap(),
        Value::Array(vec!["function".into(), "object".into(), 42.into()])
    );
}

#[test]
fn damaged_or_foreign_bytes_are_invalid_input() {
    let bytes = Snapshot::create(SETUP).unwrap().to_bytes();
    let invalid = |bytes: Vec<u8>| match Snapshot::from_bytes(bytes) {
        Err(Error::InvalidInput(message)) => message,
        other => panic!("accepted: {other:?}"),
    };
    assert!(invalid(Vec::new()).contains("too short"));
    assert!(invalid(bytes[..bytes.len() / 2].to_vec()).contains("truncated"));
    for at in [0, 20, bytes.len() / 2, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x40;
        invalid(flipped);
    }
    let mut longer = bytes.clone();
    longer.push(0);
    invalid(longer);
    // Bytes made by another V8 version: the envelope says so, whole and
    // with a matching checksum.
    let version = v8cage::v8_version();
    let other = bytes
        .windows(version.len())
        .position(|w| w == version.as_bytes())
        .expect("the version is recorded");
    let mut foreign = bytes[..bytes.len() - 32].to_vec();
    foreign[other] = if foreign[other] == b'9' { b'8' } else { b'9' };
    use sha2::Digest;
    let digest = sha2::Sha256::digest(&foreign);
    foreign.extend_from_slice(&digest);
    assert!(invalid(foreign).contains("made by V8"));
}

#[test]
fn setup_errors_are_typed() {
    let limited = ContextOptions {
        timeout: Some(Duration::from_millis(200)),
        heap_limit: Some(32 << 20),
        kill_grace: common::generous(),
        ..Default::default()
    };
    assert!(matches!(
        Snapshot::create("throw new TypeError('setup')"),
        Err(Error::Exception { name, .. }) if name == "TypeError"
    ));
    assert!(matches!(
        Snapshot::create("function ("),
        Err(Error::Syntax { .. })
    ));
    assert_eq!(
        Snapshot::create_with("for (;;) {}", &limited).map(|_| ()),
        Err(Error::Timeout)
    );
    // A generous timeout: a slow machine (or sanitizer) must not turn
    // running out of heap into a timeout.
    let heap_only = ContextOptions {
        timeout: Some(common::generous()),
        ..limited
    };
    assert_eq!(
        Snapshot::create_with(
            "const a = []; for (;;) a.push(new Array(1e4).fill(1.5))",
            &heap_only
        )
        .map(|_| ()),
        Err(Error::OutOfMemory)
    );
    let small = ContextOptions {
        max_result_bytes: 1 << 20,
        ..Default::default()
    };
    assert!(matches!(
        Snapshot::create_with(
            "globalThis.t = Array.from({ length: 1 << 18 }, (_, i) => i * 1.5)",
            &small
        ),
        Err(Error::Conversion(_))
    ));
}

#[test]
fn state_v8_cannot_keep_is_invalid_input_not_an_abort() {
    for setup in [
        "globalThis.c = new Intl.Collator('de')",
        "globalThis.r = new FinalizationRegistry(() => {}); r.register({}, 1)",
    ] {
        match Snapshot::create(setup) {
            Err(Error::InvalidInput(message)) => {
                assert!(message.contains("cannot keep"), "{message}")
            }
            // A V8 that can keep it makes a usable snapshot.
            Ok(snapshot) => {
                from(&snapshot, Isolation::InProcess).eval("1").unwrap();
            }
            Err(other) => panic!("{setup}: {other:?}"),
        }
    }
}

#[rstest]
fn other_v8_flags_are_refused(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let snapshot = Snapshot::create(SETUP).unwrap();
    if isolation == Isolation::Process {
        let refused = Context::new(ContextOptions {
            snapshot: Some(snapshot.clone()),
            v8_flags: "--jitless".into(),
            ..common::options(isolation)
        });
        assert!(matches!(refused, Err(Error::InvalidInput(m)) if m.contains("flags")));
    }
    let jitless = Snapshot::create_with(
        SETUP,
        &ContextOptions {
            isolation: Isolation::Process,
            v8_flags: "--jitless".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let refused = Context::new(ContextOptions {
        snapshot: Some(jitless),
        ..common::options(isolation)
    });
    assert!(matches!(refused, Err(Error::InvalidInput(m)) if m.contains("flags")));
}

#[rstest]
fn limits_hold_in_a_context_from_a_snapshot(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let snapshot = Snapshot::create(SETUP).unwrap();
    let mut ctx = Context::new(ContextOptions {
        timeout: Some(Duration::from_millis(100)),
        heap_limit: Some(32 << 20),
        snapshot: Some(snapshot),
        ..common::options(isolation)
    })
    .unwrap();
    assert_eq!(ctx.eval("for (;;) {}"), Err(Error::Timeout));
    ctx.set_timeout(Some(common::generous()));
    assert_eq!(
        ctx.eval("const a = []; for (;;) a.push(new Array(1e4).fill(1.5))"),
        Err(Error::OutOfMemory)
    );
}
