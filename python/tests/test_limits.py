"""Timeouts, memory limits and terminate(): the error is typed and the
context (or at least the process) survives."""

import os
import threading
import time

import pytest
import v8cage


def test_timeout_fires_and_context_stays_usable() -> None:
    # The context's short timeout meets only endless loops; the rest gets a
    # generous one per call, so a loaded machine cannot fail this test.
    with v8cage.Context(timeout=0.1) as ctx:
        with pytest.raises(v8cage.JSTimeoutError):
            ctx.eval("while (true) {}")
        assert ctx.eval("1 + 1", timeout=60) == 2
        ctx.eval("function spin() { for (;;) {} }", timeout=60)
        with pytest.raises(TimeoutError):
            ctx.call("spin")
        assert ctx.call("Math.max", 1, 3, timeout=60) == 3


def test_per_call_timeout_overrides_and_restores_the_default() -> None:
    with v8cage.Context() as ctx:
        with pytest.raises(v8cage.JSTimeoutError):
            ctx.eval("while (true) {}", timeout=0.05)
        ctx.eval("var n = 0; for (let i = 0; i < 1e6; i++) n += i")
        assert ctx.eval("n") == sum(range(10**6))


def test_runaway_allocation_is_an_oom_error_and_the_process_survives() -> None:
    with v8cage.Context(max_memory=64 << 20, timeout=30) as ctx:
        with pytest.raises(v8cage.JSOOMError):
            ctx.eval("const a = []; for (;;) a.push(new Array(1e4).fill(1.5))")
        with pytest.raises(MemoryError):
            ctx.eval("const m = new Map(); for (let i = 0; ; i++) m.set(i, { i })")
    with v8cage.Context() as other:
        assert other.eval("'alive'") == "alive"


def test_terminate_from_another_thread() -> None:
    with v8cage.Context() as ctx:
        errors = []

        def run() -> None:
            try:
                ctx.eval("for (;;) {}")
            except v8cage.JSError as error:
                errors.append(error)

        runner = threading.Thread(target=run)
        runner.start()
        # terminate() before the loop starts is a no-op, so keep asking until it ends.
        while runner.is_alive():
            ctx.terminate()
            runner.join(timeout=0.01)
        assert len(errors) == 1 and isinstance(errors[0], v8cage.JSTerminatedError)
        assert ctx.eval("'usable'") == "usable"


def test_heap_stats_and_gc() -> None:
    with v8cage.Context(max_memory=32 << 20) as ctx:
        stats = ctx.heap_stats()
        assert set(stats) == {"used_heap_size", "total_heap_size", "heap_size_limit", "external_memory"}
        assert 0 < stats["used_heap_size"] <= stats["total_heap_size"]
        assert stats["heap_size_limit"] <= 64 << 20
        ctx.eval("globalThis.big = new Array(1e6).fill(1.5)")
        grown = ctx.heap_stats()["used_heap_size"]
        ctx.eval("delete globalThis.big")
        ctx.low_memory_notification()
        assert ctx.heap_stats()["used_heap_size"] < grown


def test_a_prestarted_context_has_the_limits_it_was_made_for() -> None:
    # Spares are per limits: each context must get its own heap limit
    # whichever spare is ready, and never one a script ran in.
    for limit in (24 << 20, 96 << 20, 24 << 20):
        v8cage.prestart_context(max_memory=limit)
        with v8cage.Context(max_memory=limit) as ctx:
            assert ctx.eval("typeof globalThis.leftOver") == "undefined"
            ctx.eval("globalThis.leftOver = 1")
            assert limit <= ctx.heap_stats()["heap_size_limit"] <= 2 * limit
    with pytest.raises(ValueError, match="isolation"):
        v8cage.prestart_context(isolation="elsewhere")
    v8cage.set_spare_contexts(0)
    try:
        with v8cage.Context() as ctx:
            assert ctx.eval("6 * 7") == 42
        v8cage.set_spare_contexts(4)
        v8cage.prestart_context(isolation="process")
        for _ in range(6):
            with v8cage.Context(isolation="process") as ctx:
                assert ctx.eval("typeof globalThis.leftOver") == "undefined"
                ctx.eval("globalThis.leftOver = 1")
        with pytest.raises(OverflowError):
            v8cage.set_spare_contexts(-1)
    finally:
        v8cage.set_spare_contexts(1)


@pytest.mark.parametrize("isolation", ["in-process", "process"])
def test_intl_objects_count_against_the_heap_limit(isolation: str) -> None:
    with v8cage.Context(timeout=60, max_memory=64 << 20, isolation=isolation) as ctx:
        if ctx.eval("typeof Intl") != "object" or not v8cage.icu_memory_counted():
            pytest.skip("no Intl, or this V8's ICU is not counted")
        with pytest.raises(v8cage.JSOOMError):
            ctx.eval("{ const all = []; for (;;) all.push(new Intl.Collator('de')) }")
        peak = ctx.worker_peak_resident()
        if isolation == "process":
            report = ctx.isolation_report()
            assert report is not None and peak is not None
            bound = report["resident_memory_bound"]
            assert bound is None or peak <= bound
        else:
            assert peak is None


@pytest.mark.parametrize("isolation", ["in-process", "process"])
def test_cpu_time_limit_ends_a_busy_script_and_not_a_waiting_one(isolation: str) -> None:
    # Emulated or instrumented builds run scripts slower: the limit scales,
    # and the sleep stays well past it.
    limit = 0.05 * int(os.environ.get("V8CAGE_TEST_TIME_SCALE", "1"))
    with v8cage.Context(cpu_time_limit=limit, isolation=isolation) as ctx:
        with pytest.raises(v8cage.JSCpuTimeLimitError) as raised:
            ctx.eval("for (;;) {}")
        # A timeout too, for code that handles timeouts, but not a wall-clock one.
        assert isinstance(raised.value, v8cage.JSTimeoutError)
        assert ctx.eval("6 * 7") == 42

        # Asleep in Python is wall-clock time, next to no CPU time.
        def nap() -> str:
            time.sleep(limit * 4)
            return "rested"

        ctx.expose("nap", nap)
        assert ctx.eval("nap()") == "rested"


def test_cpu_time_limit_is_checked() -> None:
    with pytest.raises(ValueError):
        v8cage.Context(cpu_time_limit=-1)
