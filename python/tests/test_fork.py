"""A child forked after V8 started (multiprocessing's default on Linux before
Python 3.14) gets JSInvalidInputError from every use instead of a SIGSEGV."""

import multiprocessing
from collections.abc import Callable
from typing import Any

import v8cage


def _use_v8_in_child(inherited: Any, results: Any) -> None:
    outcomes: list[str] = []
    attempts: tuple[Callable[[], Any], ...] = (
        lambda: inherited.eval("1 + 1"),
        lambda: v8cage.Context().eval("1 + 1"),
    )
    for attempt in attempts:
        try:
            attempt()
            outcomes.append("value")
        except v8cage.JSInvalidInputError as error:
            outcomes.append("spawn" if "spawn" in str(error) else "other")
        except Exception as error:  # reported to the parent, not raised
            outcomes.append(repr(error))
    results.put(outcomes)


def test_a_forked_child_gets_a_clear_error_and_exits_cleanly() -> None:
    with v8cage.Context() as ctx:
        assert ctx.eval("6 * 7") == 42
        fork = multiprocessing.get_context("fork")
        results = fork.Queue()
        child = fork.Process(target=_use_v8_in_child, args=(ctx, results))
        child.start()
        outcomes = results.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0
        assert outcomes == ["spawn", "spawn"]
        assert ctx.eval("6 * 7") == 42  # the parent is unaffected
