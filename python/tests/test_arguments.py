"""Call arguments are bounded like results (max_result_bytes, both ways,
checked before anything large is copied), and deep values convert without
native recursion, so small thread stacks are safe both ways."""

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import v8cage


@pytest.fixture
def ctx() -> Iterator[Any]:
    with v8cage.Context(timeout=30) as context:
        context.eval("function size(x) { return x.length }")
        yield context


@pytest.mark.parametrize(
    "argument",
    [
        range(5 * 10**7),  # refused from its length: never iterated
        "x" * (65 << 20),
        b"\0" * (65 << 20),
        bytearray(65 << 20),
        [0] * (9 << 20),
        {"k" * (65 << 20): 1},
    ],
    ids=["range", "str", "bytes", "bytearray", "list", "key"],
)
def test_arguments_beyond_max_result_bytes_are_refused(ctx: v8cage.Context, argument: Any) -> None:
    with pytest.raises(v8cage.JSInvalidInputError, match="max_result_bytes"):
        ctx.call("size", argument)
    assert ctx.call("size", "fits") == 4


def test_arguments_within_the_bound_pass(ctx: v8cage.Context) -> None:
    assert ctx.call("size", range(1000)) == 1000
    assert ctx.call("size", "x" * (1 << 20)) == 1 << 20


def _run_in_child(code: Any) -> Any:
    """Runs `code` in a fresh interpreter: a crash there fails the test
    instead of ending the test run."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_deep_results_and_arguments_on_small_thread_stacks() -> None:
    # Both once recursed per level: 999 levels segfaulted on 512 KiB
    # (results) and 256 KiB (arguments) thread stacks.
    out = _run_in_child(
        """
        import threading
        import v8cage

        def depth(value):
            n = 0
            while isinstance(value, list) and value:
                value, n = value[0], n + 1
            return n

        def results():
            with v8cage.Context() as ctx:
                value = ctx.eval("let a = null; for (let i = 0; i < 999; i++) a = [a]; a")
                print("results", depth(value))

        def arguments():
            with v8cage.Context() as ctx:
                ctx.eval(
                    "function depth(x) { let n = 0;"
                    " while (Array.isArray(x)) { x = x[0]; n++ } return n }"
                )
                deep = None
                for _ in range(998):
                    deep = [deep]
                try:
                    print("arguments", ctx.call("depth", deep))
                except v8cage.JSConversionError as error:
                    print("arguments refused:", error)

        for stack, work in ((512 * 1024, results), (256 * 1024, arguments)):
            threading.stack_size(stack)
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
        """
    )
    assert "results 999" in out
    assert "arguments 998" in out or "arguments refused" in out
