//! A gallery of hostile scripts: each ends in a value or a typed error, and
//! the context evaluates `1+1` afterwards.

use rstest::rstest;
use std::time::Duration;
use v8cage::Isolation;

mod common;
use common::{eval_until_timeout, generous};

use v8cage::{Context, ContextOptions, Error, Value};

#[rstest]
fn hostile_scripts_end_in_values_or_typed_errors(
    #[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation,
) {
    let cases = [
        "Error.prepareStackTrace = () => { for(;;){} }; throw new Error('x')",
        "Error.prepareStackTrace = () => { throw 1 }; null.x",
        "Error.stackTraceLimit = Infinity; function f(n){ return f(n+1) } f(0)",
        "throw new Error('x'.repeat(1e8))",
        "(async function f(){ for(;;) await null })()",
        "Object.defineProperty(Object.prototype, '0', {get(){ for(;;){} }}); [,1]",
        "Object.defineProperty(Object.prototype, 'name', {get(){ throw 3 }}); throw {}",
        "new Proxy([], { get(){ throw 1 } })",
        "new Proxy({}, { getOwnPropertyDescriptor(){ for(;;){} }, ownKeys(){ return ['a'] } })",
        "var p = new Proxy({}, {}); Proxy.revocable({}, {}).proxy",
        "var r = Proxy.revocable({}, {}); r.revoke(); r.proxy",
        "globalThis.Math = 1; 0",
        "new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([0,97,115,109,1,0,0,0,1,4,1,96,0,0,3,2,1,0,7,5,1,1,102,0,0,10,9,1,7,0,3,64,12,0,11,11]))).exports.f()",
        "const ab = new ArrayBuffer(8); const u = new Uint8Array(ab); ab.transfer ? ab.transfer() : 0; u",
        "let s = new SharedArrayBuffer(16); new Int32Array(s)",
        "JSON.parse('['.repeat(100000))",
        "Array(1e6).fill().map((_, i) => i).join('').length",
        "function* g(){ yield* g() } [...g()]",
        "String.fromCharCode(...Array(200000).fill(65)).length",
        "new Array(2**32 - 1)",
        "Object.defineProperty([], 'length', {value: 2**32-1})",
        "[].concat.apply([], Array(100).fill(Array(100000).fill(1))).length",
        "new RegExp('(a+)+$').test('a'.repeat(40) + 'b')",
        "Reflect.construct(Date, [], Proxy)",
        "structuredClone",
        "let d = new Date(8.64e15 + 1); d",
        "Symbol.for('x')",
        "({[Symbol.toPrimitive]() { for(;;){} }})",
        "eval('(' .repeat(1e5))",
        "new Function('a'.repeat(1e7))",
        "'\\u{10FFFF}'.repeat(10)",
        "let o = {}; for (let i = 0; i < 1e5; i++) o = {o}; 1",
    ];
    for src in cases {
        let mut ctx = Context::new(ContextOptions {
            timeout: Some(Duration::from_millis(300)),
            heap_limit: Some(64 << 20),
            ..common::options(isolation)
        })
        .unwrap();
        let result = ctx.eval(src);
        // Every outcome is a value or one of the typed errors; Engine would mean the shim failed.
        assert!(
            !matches!(result, Err(Error::Engine(_))),
            "{src}: {result:?}"
        );
        ctx.set_timeout(Some(generous()));
        assert_eq!(
            ctx.eval("1+1"),
            Ok(Value::Number(2.0)),
            "{src} left the context unusable"
        );
    }
}

#[rstest]
fn specific_outcomes(#[values(Isolation::InProcess, Isolation::Process)] isolation: Isolation) {
    let mut ctx = common::generous_context(isolation);
    let short = Duration::from_millis(300);
    // Catastrophic regex backtracking is interrupted by the timeout.
    assert_eq!(
        eval_until_timeout(
            &mut ctx,
            short,
            "new RegExp('(a+)+$').test('a'.repeat(40) + 'b')"
        ),
        Err(Error::Timeout)
    );
    // A stack-trace hook that loops is under the timeout too.
    assert_eq!(
        eval_until_timeout(
            &mut ctx,
            short,
            "Error.prepareStackTrace = () => { for(;;){} }; throw new Error('x')"
        ),
        Err(Error::Timeout)
    );
    ctx.eval("delete Error.prepareStackTrace").unwrap();
    // An endless promise chain is stopped, not run forever.
    assert_eq!(
        eval_until_timeout(
            &mut ctx,
            short,
            "(async function f(){ for(;;) await null })()"
        ),
        Err(Error::Timeout)
    );
    // Error texts are capped at 64 KiB.
    match ctx.eval("throw new Error('x'.repeat(1e6))") {
        Err(Error::Exception { message, .. }) => assert_eq!(message.len(), 64 * 1024),
        other => panic!("{other:?}"),
    }
}
