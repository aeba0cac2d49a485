"""Every exception type, its attributes, and the context staying usable."""

from typing import Any

import pytest
import v8cage


def test_hierarchy() -> None:
    for cls in (
        v8cage.JSSyntaxError,
        v8cage.JSEvalError,
        v8cage.JSTimeoutError,
        v8cage.JSOOMError,
        v8cage.JSTerminatedError,
        v8cage.JSConversionError,
        v8cage.JSInvalidInputError,
    ):
        assert issubclass(cls, v8cage.JSError)
    assert issubclass(v8cage.JSTimeoutError, TimeoutError)
    assert issubclass(v8cage.JSOOMError, MemoryError)
    assert issubclass(v8cage.JSInvalidInputError, ValueError)


def test_syntax_error_has_line_and_column(ctx: v8cage.Context) -> None:
    with pytest.raises(v8cage.JSSyntaxError) as info:
        ctx.eval("let a = 1;\nlet b = ;")
    assert (info.value.line, info.value.column) == (2, 9)
    assert "Unexpected token" in str(info.value)
    assert ctx.eval("2") == 2


def test_eval_error_has_name_message_and_stack(ctx: v8cage.Context) -> None:
    with pytest.raises(v8cage.JSEvalError) as info:
        ctx.eval("function thrower() { throw new RangeError('too far') }\nthrower()")
    error = info.value
    assert error.name == "RangeError"
    assert error.message == "too far"
    assert error.stack is not None and "thrower" in error.stack
    assert str(error) == "RangeError: too far"


def test_thrown_non_errors_are_eval_errors(ctx: v8cage.Context) -> None:
    with pytest.raises(v8cage.JSEvalError) as info:
        ctx.eval("throw 42")
    assert info.value.name == ""
    assert "42" in info.value.message


def test_conversion_errors(ctx: v8cage.Context) -> None:
    for source in ("const o = {}; o.o = o; o", "({ get x() { throw 1 } })"):
        with pytest.raises(v8cage.JSConversionError):
            ctx.eval(source)
    assert ctx.eval("'fine'") == "fine"


def test_unknown_function_is_invalid_input(ctx: v8cage.Context) -> None:
    with pytest.raises(v8cage.JSInvalidInputError):
        ctx.call("no.such.function")


def test_closed_context_raises_and_close_is_idempotent() -> None:
    ctx = v8cage.Context()
    ctx.close()
    ctx.close()
    assert ctx.closed
    with pytest.raises(v8cage.JSInvalidInputError, match="closed"):
        ctx.eval("1")


def test_bad_timeout_values_are_refused() -> None:
    with pytest.raises(ValueError):
        v8cage.Context(timeout=-1)
    with pytest.raises(ValueError):
        v8cage.Context(timeout=float("nan"))


@pytest.mark.parametrize("timeout", [1e20, 1e300, float("inf")])
def test_huge_timeouts_are_value_errors_not_panics(timeout: Any) -> None:
    # Once a pyo3 PanicException (a BaseException that `except Exception`
    # misses) from Duration::from_secs_f64.
    with pytest.raises(ValueError):
        v8cage.Context(timeout=timeout)
    with v8cage.Context() as ctx:
        with pytest.raises(ValueError):
            ctx.eval("1", timeout=timeout)
        assert ctx.eval("1 + 1", timeout=1e9) == 2
    with v8cage.MiniRacer() as mr:
        with pytest.raises(ValueError):
            mr.eval("1", timeout=timeout * 1000)


@pytest.mark.parametrize("max_memory", [0, -5, 1, 2**64, 2**64 - 2**20, 2**200])
def test_impossible_memory_limits_are_value_errors(max_memory: Any) -> None:
    # 2**64 - 2**20 once wrapped inside V8 to a ~50 MB heap that aborted the
    # process; 0 silently meant no limit; -5 was an OverflowError.
    with pytest.raises(ValueError):
        v8cage.Context(max_memory=max_memory)
    with v8cage.Context() as ctx:
        with pytest.raises(ValueError):
            ctx.set_memory_limits(hard=-1)
