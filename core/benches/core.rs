//! `cargo bench -p v8cage`: per-operation costs in both isolation modes
//! (`in_process/…`, `process/…`, same run), and the raw floor (the same
//! `1+1` compile+run straight in the shim) that our per-eval overhead is a
//! ratio to.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use v8cage::{Context, ContextOptions, Error, Isolation, Value};

fn bench(c: &mut Criterion) {
    let mut floor = Context::default_new().unwrap();
    c.bench_function("raw_floor_1+1", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            assert_eq!(v8cage::testing::raw_eval(&mut floor, "1+1", iters), iters);
            started.elapsed()
        })
    });
    for (mode, isolation) in [
        ("in_process", Isolation::InProcess),
        ("process", Isolation::Process),
    ] {
        per_operation(c, mode, isolation);
    }
}

fn per_operation(c: &mut Criterion, mode: &str, isolation: Isolation) {
    let options = ContextOptions {
        isolation,
        ..Default::default()
    };
    // A process context from a warm spare (the pool keeps one; the setup
    // waits until it is ready, as it is when contexts are not created
    // back to back).
    c.bench_function(&format!("{mode}/new_context"), |b| {
        b.iter_batched(
            || {
                if isolation == Isolation::Process {
                    v8cage::prestart_worker().unwrap();
                }
            },
            |()| Context::new(options.clone()).unwrap(),
            BatchSize::PerIteration,
        )
    });

    let mut ctx = Context::new(options.clone()).unwrap();
    c.bench_function(&format!("{mode}/eval_1+1"), |b| {
        b.iter(|| ctx.eval("1+1").unwrap())
    });

    let mut limited = Context::new(ContextOptions {
        timeout: Some(Duration::from_secs(10)),
        heap_limit: Some(256 << 20),
        ..options.clone()
    })
    .unwrap();
    c.bench_function(&format!("{mode}/eval_1+1_with_timeout"), |b| {
        b.iter(|| limited.eval("1+1").unwrap())
    });

    ctx.eval("function add3(a, b, c) { return a + b + c }")
        .unwrap();
    let args = [Value::from(1), Value::from(2.5), Value::from(3)];
    c.bench_function(&format!("{mode}/call_3_numbers"), |b| {
        b.iter(|| ctx.call("add3", &args).unwrap())
    });

    ctx.eval("const ints = Array.from({length: 100000}, (_, i) => i)")
        .unwrap();
    c.bench_function(&format!("{mode}/convert_100k_int_array"), |b| {
        b.iter(|| ctx.eval("ints").unwrap())
    });

    ctx.eval(
        "const mb = {}; for (let i = 0; i < 10000; i++) mb['key' + i] = {id: i, name: 'item ' + i, tags: ['a', 'b'], score: i / 7, ok: true};
         const mbSize = JSON.stringify(mb).length",
    )
    .unwrap();
    let size = ctx.eval("mbSize").unwrap();
    eprintln!("(the object below is {size:?} bytes of JSON)");
    c.bench_function(&format!("{mode}/convert_1mb_object"), |b| {
        b.iter(|| ctx.eval("mb").unwrap())
    });

    // How promptly a timeout fires (tests only check that it does): the
    // time beyond 10 ms is the overshoot.
    let mut spinning = Context::new(ContextOptions {
        timeout: Some(Duration::from_millis(10)),
        ..options
    })
    .unwrap();
    c.bench_function(&format!("{mode}/timeout_10ms_endless_loop"), |b| {
        b.iter(|| assert_eq!(spinning.eval("for (;;) {}"), Err(Error::Timeout)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
