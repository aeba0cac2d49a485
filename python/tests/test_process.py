"""Context(isolation="process"): V8 in a sandboxed worker process. What
in-process V8 cannot survive ends in a typed error, and the interpreter
lives on."""

import multiprocessing
import os
import time
from typing import Any

import pytest
import v8cage


def test_a_process_context_evaluates_and_reports_its_sandbox() -> None:
    with v8cage.Context(isolation="process", timeout=60) as ctx:
        assert ctx.eval("[1, 'a', {b: 2n ** 70n}]") == [1, "a", {"b": 2**70}]
        assert ctx.eval("x => x * 2")(21) == 42
        report = ctx.isolation_report()
        assert report is not None
        assert report["seccomp"] and report["no_new_privs"]
        assert report["worker_pid"] != os.getpid()
    assert v8cage.Context().isolation_report() is None


def test_a_v8_fatal_error_raises_crashed_and_loses_only_that_context() -> None:
    doomed = v8cage.Context(isolation="process")
    other = v8cage.Context(isolation="process")
    other.eval("globalThis.kept = 7")
    with pytest.raises(v8cage.JSCrashedError) as crash:
        doomed.eval("'x'.repeat(2**29 - 24).split('')")
    assert "Fatal" in str(crash.value)
    with pytest.raises(v8cage.JSCrashedError, match="gone"):
        doomed.eval("1")
    assert other.eval("kept") == 7


def test_a_builtin_that_ignores_its_timeout_is_killed() -> None:
    ctx = v8cage.Context(isolation="process", timeout=0.1)
    started = time.monotonic()
    with pytest.raises(v8cage.JSTimeoutError):
        ctx.eval("JSON.stringify(new Uint8ClampedArray(3e7))")
    scale = int(os.environ.get("V8CAGE_TEST_TIME_SCALE", "1"))
    assert time.monotonic() - started < 1.0 * scale


def test_mini_racer_in_a_process() -> None:
    with v8cage.MiniRacer(isolation="process") as mr:
        assert mr.eval("6 * 7") == 42
        assert mr.call("Math.max", 1, 5) == 5


def test_an_unknown_isolation_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="isolation"):
        v8cage.Context(isolation="thread")


def _process_context_in_child(results: Any) -> None:
    try:
        results.put(v8cage.Context(isolation="process").eval("[1, 2].map(x => x * 3)"))
    except Exception as error:  # reported to the parent, not raised
        results.put(repr(error))


def test_a_forked_child_can_create_process_contexts() -> None:
    v8cage.prestart_worker()
    with v8cage.Context(isolation="process") as parent:
        fork = multiprocessing.get_context("fork")
        results = fork.Queue()
        child = fork.Process(target=_process_context_in_child, args=(results,))
        child.start()
        assert results.get(timeout=60) == [3, 6]
        child.join(timeout=60)
        assert child.exitcode == 0
        assert parent.eval("1 + 1") == 2


def test_python_functions_called_from_a_worker() -> None:
    calls: list[tuple[Any, ...]] = []

    def record(*args: Any) -> int:
        calls.append(args)
        return len(calls)

    with v8cage.Context(isolation="process", timeout=60) as ctx:
        ctx.expose("record", record)
        assert ctx.eval("record(1, 'a'); record([true])") == 2
        assert calls == [(1, "a"), ([True],)]

        def fail() -> None:
            raise ValueError("from the host")

        ctx.expose("fail", fail)
        message = ctx.eval("try { fail(); 'no error' } catch (e) { e.message }")
        assert "ValueError: from the host" in message
        # The worker is still serving.
        assert ctx.eval("record(); 6 * 7") == 42
