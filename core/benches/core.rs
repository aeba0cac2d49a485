//! `cargo bench -p v8cage`: per-operation costs in both isolation modes
//! (`in_process/…`, `process/…`, same run), and the raw floor (the same
//! `1+1` compile+run straight in the shim) that our per-eval overhead is a
//! ratio to.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use v8cage::{Context, ContextOptions, Error, Event, Isolation, Value};

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
    // A context from the warm spare (the setup waits until it is ready, as
    // it is when contexts are not created back to back).
    c.bench_function(&format!("{mode}/new_context"), |b| {
        b.iter_batched(
            || v8cage::prestart_context(&options).unwrap(),
            |()| Context::new(options.clone()).unwrap(),
            BatchSize::PerIteration,
        )
    });
    // Back to back, each dropped before the next: one spare cannot keep
    // up; with none, each context starts V8 itself; with four, the maker
    // runs ahead on the other core.
    for (spares, name) in [
        (1, "10_contexts_in_a_row"),
        (0, "10_contexts_in_a_row_0_spares"),
        (4, "10_contexts_in_a_row_4_spares"),
    ] {
        v8cage::set_spare_contexts(spares);
        c.bench_function(&format!("{mode}/{name}"), |b| {
            b.iter(|| {
                for _ in 0..10 {
                    let mut ctx = Context::new(options.clone()).unwrap();
                    assert_eq!(ctx.eval("1").unwrap(), Value::from(1));
                }
            })
        });
    }
    v8cage::set_spare_contexts(1);

    let mut ctx = Context::new(options.clone()).unwrap();
    c.bench_function(&format!("{mode}/eval_1+1"), |b| {
        b.iter(|| ctx.eval("1+1").unwrap())
    });
    {
        let mut pinned = ctx.pin_to_thread().unwrap();
        c.bench_function(&format!("{mode}/eval_1+1_pinned"), |b| {
            b.iter(|| pinned.eval("1+1").unwrap())
        });
    }

    let mut limited = Context::new(ContextOptions {
        timeout: Some(Duration::from_secs(10)),
        heap_limit: Some(256 << 20),
        ..options.clone()
    })
    .unwrap();
    c.bench_function(&format!("{mode}/eval_1+1_with_timeout"), |b| {
        b.iter(|| limited.eval("1+1").unwrap())
    });

    // A 1 KB script: compiled once, then found in V8's compilation cache,
    // as a script evaluated over and over is.
    let script_1kb = one_kb_script();
    c.bench_function(&format!("{mode}/eval_1kb_script"), |b| {
        b.iter(|| ctx.eval(&script_1kb).unwrap())
    });

    ctx.eval("function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }")
        .unwrap();
    c.bench_function(&format!("{mode}/fib_25"), |b| {
        b.iter(|| assert_eq!(ctx.eval("fib(25)").unwrap(), Value::from(75025)))
    });

    ctx.eval("function len(s) { return s.length }").unwrap();
    let ten_kb = [Value::from("x".repeat(10 * 1024))];
    c.bench_function(&format!("{mode}/call_10kb_string"), |b| {
        b.iter(|| ctx.call("len", &ten_kb).unwrap())
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
    // The same result read as events, no Value built: what the shim and
    // the wire cost without the ~110k allocations (and frees) of a Value.
    c.bench_function(&format!("{mode}/convert_1mb_object_events_only"), |b| {
        b.iter(|| {
            ctx.eval_with("mb", |events| {
                let mut count = 0usize;
                let mut depth = 0usize;
                loop {
                    match events.next()? {
                        Event::ArrayStart(_) | Event::ObjectStart(_) => depth += 1,
                        Event::End => depth -= 1,
                        _ => {}
                    }
                    count += 1;
                    if depth == 0 {
                        return Ok(count);
                    }
                }
            })
            .unwrap()
        })
    });
    // V8's own serializer on the same object, into one string: a reference.
    c.bench_function(&format!("{mode}/json_stringify_1mb_object"), |b| {
        b.iter(|| ctx.eval("JSON.stringify(mb)").unwrap())
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

/// About 1 KB of ordinary code: declarations, a loop, string and array work.
fn one_kb_script() -> String {
    let mut script = String::from("(function () {\n  const rows = [];\n");
    let mut i = 0;
    while script.len() < 1000 {
        script.push_str(&format!(
            "  rows.push({{ id: {i}, name: 'row' + {i}, even: {i} % 2 === 0 }});\n"
        ));
        i += 1;
    }
    script.push_str("  return rows.filter(r => r.even).map(r => r.name).join(',').length;\n})()");
    script
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
