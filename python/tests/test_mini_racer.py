"""v8cage.MiniRacer against mini-racer's own MiniRacer: the same test code
runs on both, so passing here means `from v8cage import MiniRacer` can
replace `from py_mini_racer import MiniRacer` for these uses."""

import json
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import py_mini_racer
import pytest
import v8cage


@pytest.fixture(params=["v8cage", "py_mini_racer"])
def api(request: pytest.FixtureRequest) -> Any:
    return v8cage if request.param == "v8cage" else py_mini_racer


@pytest.fixture
def mr(api: ModuleType) -> Iterator[Any]:
    with api.MiniRacer() as racer:
        yield racer


def exc(api: ModuleType, name: Any) -> Any:
    # mini-racer exports some exception classes only from its _exc module.
    return getattr(api, name, None) or getattr(py_mini_racer._exc, name)


def test_eval_primitives(api: ModuleType, mr: Any) -> None:
    assert mr.eval("1 + 1") == 2
    assert mr.eval("'a' + 'b'") == "ab"
    assert mr.eval("1.5") == 1.5
    assert mr.eval("null") is None
    assert mr.eval("undefined") is api.JSUndefined
    assert mr.eval("true") is True
    mr.eval("var x = 40")
    assert mr.eval("x + 2") == 42


def test_execute_and_call_go_through_json(mr: Any) -> Any:
    assert mr.execute("({a: [1, 2, {b: null}]})") == {"a": [1, 2, {"b": None}]}
    mr.eval("function add(a, b) { return {sum: a + b, args: [a, b]} }")
    assert mr.call("add", 1, 2) == {"sum": 3, "args": [1, 2]}
    assert mr.call("Math.max", 3, 9, 4) == 9

    class DecimalEncoder(json.JSONEncoder):
        def default(self, o: Any) -> Any:
            return str(o) if isinstance(o, Decimal) else super().default(o)

    assert mr.call("String", Decimal("1.25"), encoder=DecimalEncoder) == "1.25"


def test_exception_types(api: ModuleType, mr: Any) -> None:
    with pytest.raises(api.JSParseException):
        mr.eval("(")
    with pytest.raises(api.JSEvalException) as info:
        mr.eval("throw new TypeError('bad thing')")
    assert "bad thing" in str(info.value)
    assert issubclass(api.JSParseException, api.JSEvalException)
    assert issubclass(exc(api, "JSTimeoutException"), TimeoutError)
    assert mr.eval("'still usable'") == "still usable"


def test_timeouts_in_seconds_and_milliseconds(api: ModuleType, mr: Any) -> None:
    with pytest.raises(exc(api, "JSTimeoutException")):
        mr.eval("while (true) {}", timeout_sec=0.1)
    with pytest.raises(exc(api, "JSTimeoutException")):
        mr.eval("while (true) {}", timeout=100)
    with pytest.raises(exc(api, "JSTimeoutException")):
        mr.execute("(() => { for (;;) {} })()", timeout_sec=0.1)
    assert mr.eval("2") == 2


def test_hard_memory_limit(api: ModuleType, mr: Any) -> None:
    assert not mr.was_hard_memory_limit_reached()
    with pytest.raises(api.JSOOMException):
        mr.eval("const a = []; for (;;) a.push(new Array(1e4).fill(1.5))", max_memory=50 << 20)
    assert mr.was_hard_memory_limit_reached()


def test_soft_memory_limit_only_records() -> None:
    # v8cage only: mini-racer 0.14's soft-limit flag did not trip here.
    mr = v8cage.MiniRacer()
    mr.set_soft_memory_limit(4 << 20)
    assert not mr.was_soft_memory_limit_reached()
    # About 10 MB kept (half of that with pointer compression, as in 15.2).
    mr.eval("globalThis.keep = Array.from({length: 5e5}, (_, i) => ({i})); 0")
    # Allocation: a GC checks the limit (many young arrays: 15.2 put one
    # large array in its own space without collecting).
    mr.eval("for (let i = 0; i < 100; i++) new Array(1e5).fill(i); 0")
    assert mr.was_soft_memory_limit_reached()
    assert mr.eval("keep.length") == 500000


def test_heap_stats_and_gc(mr: Any) -> None:
    stats = mr.heap_stats()
    for key in ("used_heap_size", "total_heap_size", "heap_size_limit"):
        assert isinstance(stats[key], int) and stats[key] > 0
    mr.low_memory_notification()


def test_v8_version(mr: Any) -> None:
    assert str(mr.v8_version).split(".")[0].isdigit()


def test_v8cage_exceptions_are_mini_racers_too() -> None:
    with v8cage.MiniRacer() as mr:
        with pytest.raises(v8cage.JSTimeoutException) as info:
            mr.eval("for (;;) {}", timeout_sec=0.05)
        assert isinstance(info.value, v8cage.JSTimeoutError)
        assert str(info.value) == "JavaScript was terminated by timeout"
    mr.close()
    with pytest.raises(v8cage.JSValueError):
        mr.eval("1")
