"""Threads: own contexts run in parallel (the GIL is released), a shared
context is serialised, and Python keeps running while JavaScript does."""

import threading
from typing import Any

import v8cage


def test_eight_threads_with_their_own_contexts() -> None:
    results = {}

    def work(n: Any) -> None:
        with v8cage.Context(timeout=10) as ctx:
            ctx.eval(f"var id = {n}; function step(x) {{ return x + id }}")
            total = 0
            for _i in range(200):
                total = ctx.call("step", total)
            results[n] = total

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {n: 200 * n for n in range(8)}


def test_a_shared_context_is_serialised() -> None:
    with v8cage.Context(timeout=10) as ctx:
        ctx.eval("var counter = 0; function bump() { const c = counter; counter = c + 1; return c }")
        seen = []
        lock = threading.Lock()

        def work() -> None:
            for _ in range(250):
                value = ctx.call("bump")
                with lock:
                    seen.append(value)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(seen) == list(range(2000))
        assert ctx.eval("counter") == 2000


def test_the_gil_is_released_while_javascript_runs() -> None:
    # The loop only ends when this (Python) thread terminates it: if eval
    # held the GIL, the main thread could never run and the join would fail.
    with v8cage.Context() as ctx:
        outcome = []
        started = threading.Event()

        def run() -> None:
            started.set()
            try:
                ctx.eval("for (;;) {}")
            except v8cage.JSTerminatedError:
                outcome.append("terminated")

        runner = threading.Thread(target=run)
        runner.start()
        started.wait()
        for _ in range(2000):
            ctx.terminate()
            runner.join(timeout=0.01)
            if not runner.is_alive():
                break
        assert outcome == ["terminated"]


def test_close_from_another_thread_stops_a_running_eval() -> None:
    ctx = v8cage.Context()
    errors = []

    def run() -> None:
        try:
            ctx.eval("for (;;) {}")
        except v8cage.JSError as error:
            errors.append(type(error))

    runner = threading.Thread(target=run)
    runner.start()
    while runner.is_alive():
        ctx.close()  # terminates, then frees the isolate once eval returned
        runner.join(timeout=0.01)
    assert ctx.closed
    assert errors in ([v8cage.JSTerminatedError], [v8cage.JSInvalidInputError])
