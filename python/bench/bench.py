"""v8cage against mini-racer, measured side by side in one run.

    cargo xtask py-bench [-- --quick]   # release build into target/python-venv, then this script

Prints one row per case: the median time per operation for each package,
their ratio (mini-racer / v8cage: above 1 means v8cage is faster), and the
target from the issue. Machines are noisy: compare ratios within one run.
"""

import argparse
import json
import statistics
import threading
import time
from importlib.metadata import version

import py_mini_racer
import v8cage

FIB = "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }"
# ~1 MB of JSON: 5,000 records of nested data.
BIG_OBJECT = """
globalThis.big = {};
for (let i = 0; i < 5000; i++) {
  big['key' + i] = { id: i, name: 'item number ' + i, tags: ['a', 'b', 'c'],
                     nested: { x: i * 1.5, y: -i, ok: i % 2 === 0 }, note: 'x'.repeat(100) };
}
"""
INTS = "globalThis.ints = Array.from({ length: 100000 }, (_, i) => i)"


def per_op(run, ops, repeats):
    """Median seconds per operation over `repeats` batches of `ops`."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(ops)
        samples.append((time.perf_counter() - started) / ops)
    return statistics.median(samples)


def fmt(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds * 1e6:8.2f} µs"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here (xtask bench --check)")
    args = parser.parse_args()
    quick = args.quick
    scale = 0.2 if quick else 1.0
    n = lambda count: max(1, int(count * scale))  # noqa: E731
    repeats = 3 if quick else 7

    ctx = v8cage.Context()
    mr = py_mini_racer.MiniRacer()
    for setup in (FIB, BIG_OBJECT, INTS, "function f3(a, b, c) { return a + b + c }"):
        ctx.eval(setup)
        mr.eval(setup)

    rows = []

    def case(name, ours, theirs, ops, target=None):
        a = per_op(ours, ops, repeats)
        b = per_op(theirs, ops, repeats)
        rows.append((name, a, b, target))

    def loop(fn):
        def run(ops):
            for _ in range(ops):
                fn()

        return run

    case(
        "new context",
        loop(lambda: v8cage.Context().close()),
        loop(lambda: py_mini_racer.MiniRacer().close()),
        n(50),
        3e-3,
    )
    case('eval("1+1")', loop(lambda: ctx.eval("1+1")), loop(lambda: mr.eval("1+1")), n(20000), 3e-6)
    case(
        "call, 3 args",
        loop(lambda: ctx.call("f3", 1, 2, 3)),
        loop(lambda: mr.call("f3", 1, 2, 3)),
        n(20000),
        5e-6,
    )
    case("100k ints -> list", loop(lambda: ctx.eval("ints")), loop(lambda: mr.execute("ints")), n(20), 10e-3)
    case("~1 MB object -> dict", loop(lambda: ctx.eval("big")), loop(lambda: mr.execute("big")), n(10), 40e-3)
    case("fib(25)", loop(lambda: ctx.eval("fib(25)")), loop(lambda: mr.eval("fib(25)")), n(10))

    # Timeout accuracy: how long a 50 ms timeout takes to end an endless loop.
    def overshoot(run):
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            try:
                run()
            except (v8cage.JSError, py_mini_racer.JSTimeoutException):
                pass
            samples.append(time.perf_counter() - started - 0.05)
        return statistics.median(samples)

    timed = v8cage.Context(timeout=0.05)
    ours_over = overshoot(lambda: timed.eval("while (true) {}"))
    theirs_over = overshoot(lambda: mr.eval("while (true) {}", timeout_sec=0.05))

    # 2-thread scaling: the same total work on one thread, then split over
    # two. Enough work (~0.1 s) that starting the threads does not count.
    def scaling(make, evaluate):
        workers = [make() for _ in range(2)]
        for w in workers:
            evaluate(w, FIB)
        total = n(400)

        def work(w, count):
            for _ in range(count):
                evaluate(w, "fib(20)")

        started = time.perf_counter()
        work(workers[0], total)
        one = time.perf_counter() - started
        threads = [threading.Thread(target=work, args=(w, total // 2)) for w in workers]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        two = time.perf_counter() - started
        return one / two

    ours_scale = scaling(v8cage.Context, lambda c, s: c.eval(s))
    theirs_scale = scaling(py_mini_racer.MiniRacer, lambda m, s: m.eval(s))

    print(
        f"v8cage (V8 {v8cage.v8_version()}) vs mini-racer {version('mini-racer')} "
        f"(V8 {mr.v8_version}), median per operation"
    )
    print(f"{'case':24} {'v8cage':>12} {'mini-racer':>12} {'ratio':>8}  target (v8cage)")
    for name, ours, theirs, target in rows:
        verdict = ""
        if target is not None:
            verdict = f"< {fmt(target).strip()}: {'met' if ours < target else 'MISSED'}"
        print(f"{name:24} {fmt(ours):>12} {fmt(theirs):>12} {theirs / ours:7.2f}x  {verdict}")
    print(f"{'50 ms timeout overshoot':24} {fmt(ours_over):>12} {fmt(theirs_over):>12}")
    print(f"{'2-thread speed-up':24} {ours_scale:11.2f}x {theirs_scale:11.2f}x")
    if args.json:
        figures = {name: {"v8cage": ours, "mini-racer": theirs} for name, ours, theirs, _ in rows}
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=1)
    ctx.close()
    timed.close()
    mr.close()


if __name__ == "__main__":
    main()
