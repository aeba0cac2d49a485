"""Every JS -> Python mapping, and Python -> JS through call()."""

import collections
import datetime
import math
import types
from typing import Any

import pytest
import v8cage
from v8cage import Undefined

UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    "source, expected",
    [
        ("undefined", Undefined),
        ("null", None),
        ("true", True),
        ("false", False),
        ("42", 42),
        ("-7", -7),
        ("2 ** 53 - 1", 2**53 - 1),
        ("-(2 ** 53 - 1)", -(2**53 - 1)),
        ("1.5", 1.5),
        ("2 ** 53 + 2", float(2**53 + 2)),
        ("1e300", 1e300),
        ("12345678901234567890123n", 12345678901234567890123),
        ("-5n", -5),
        ("'héllo 😀'", "héllo 😀"),
        ("''", ""),
        ("[1, 'a', [null]]", [1, "a", [None]]),
        ("({a: 1, b: {c: [true]}})", {"a": 1, "b": {"c": [True]}}),
        ("new Uint8Array([1, 2, 255])", b"\x01\x02\xff"),
        ("new ArrayBuffer(3)", b"\x00\x00\x00"),
        (
            "new Date(Date.UTC(2020, 1, 29, 12, 30, 15, 250))",
            datetime.datetime(2020, 2, 29, 12, 30, 15, 250000, tzinfo=UTC),
        ),
        ("new Date(-86400000)", datetime.datetime(1969, 12, 31, tzinfo=UTC)),
    ],
)
def test_js_to_python(ctx: v8cage.Context, source: Any, expected: Any) -> None:
    result = ctx.eval(source)
    assert result == expected
    assert type(result) is type(expected)


def test_special_numbers(ctx: v8cage.Context) -> None:
    assert math.isnan(ctx.eval("NaN"))
    assert ctx.eval("Infinity") == math.inf
    assert ctx.eval("-Infinity") == -math.inf
    negative_zero = ctx.eval("-0")
    assert isinstance(negative_zero, float) and math.copysign(1, negative_zero) == -1


def test_undefined_is_a_falsy_singleton_distinct_from_none(ctx: v8cage.Context) -> None:
    assert ctx.eval("undefined") is Undefined
    assert not Undefined
    assert Undefined is not None
    assert repr(Undefined) == "JSUndefined"


def test_functions_come_back_as_callable_jsfunctions(ctx: v8cage.Context) -> None:
    f = ctx.eval("(function named(a, b) { 'use strict'; return [a, b, typeof this] })")
    assert isinstance(f, v8cage.JSFunction)
    assert f.name == "named"
    assert f(1, "x") == [1, "x", "undefined"]
    counter = ctx.eval("let n = 0; ({ next: () => ++n, reset() { n = 0 } })")
    assert counter["next"]() == 1 and counter["next"]() == 2
    counter["reset"]()
    assert ctx.eval("n") == 0
    make_adder = ctx.eval("x => y => x + y")
    assert make_adder(2)(3) == 5


def test_jsfunction_errors_and_timeouts_are_typed() -> None:
    # Short timeouts only for what cannot end otherwise (a loaded machine
    # must not fail this test).
    with v8cage.Context(timeout=0.1) as ctx:
        thrower = ctx.eval("() => { throw new TypeError('no') }", timeout=60)
        with pytest.raises(v8cage.JSEvalError, match="TypeError: no"):
            thrower(timeout=60)
        spin = ctx.eval("() => { for (;;) {} }", timeout=60)
        with pytest.raises(v8cage.JSTimeoutError):
            spin()  # the context's own timeout applies to function calls
        with pytest.raises(v8cage.JSTimeoutError):
            spin(timeout=0.01)
        assert ctx.eval("1", timeout=60) == 1


def test_jsfunction_of_a_closed_context_raises() -> None:
    ctx = v8cage.Context()
    f = ctx.eval("() => 1")
    ctx.close()
    with pytest.raises(v8cage.JSInvalidInputError):
        f()


def test_invalid_date_is_a_conversion_error_and_context_survives(ctx: v8cage.Context) -> None:
    with pytest.raises(v8cage.JSConversionError):
        ctx.eval("new Date(NaN)")
    with pytest.raises(v8cage.JSConversionError):
        ctx.eval("new Date(8.64e15)")  # year 275760: beyond datetime
    assert ctx.eval("1 + 1") == 2


@pytest.fixture
def echo(ctx: v8cage.Context) -> Any:
    ctx.eval("function echo(x) { return x }")
    return lambda value: ctx.call("echo", value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -123,
        2**53 - 1,
        2**64 + 1,
        -(2**100),
        0.25,
        -1e-300,
        "",
        "ünïcode 😀 \x00 nul",
        b"\x00\x01\xfe",
        [1, [2, [3]]],
        {"a": [1, {"b": None}], "": "empty key"},
        datetime.datetime(2001, 9, 9, 1, 46, 40, 123000, tzinfo=UTC),
    ],
)
def test_round_trip(echo: Any, value: Any) -> None:
    assert echo(value) == value


def test_round_trip_of_undefined_and_inexact_numbers(echo: Any) -> None:
    assert echo(Undefined) is Undefined
    assert math.isnan(echo(float("nan")))
    assert echo(2.0) == 2 and isinstance(echo(2.0), int)  # JS has one number type


def test_python_containers_map_to_arrays_and_objects(echo: Any) -> None:
    assert echo((1, "two")) == [1, "two"]
    assert echo(bytearray(b"ab")) == b"ab"
    assert echo(memoryview(b"xyz")[1:]) == b"yz"
    assert echo(range(3)) == [0, 1, 2]
    assert echo(collections.OrderedDict([("z", 1), ("a", 2)])) == {"z": 1, "a": 2}
    assert echo(types.MappingProxyType({"k": "v"})) == {"k": "v"}


def test_naive_datetime_is_taken_as_utc(echo: Any) -> None:
    naive = datetime.datetime(2020, 1, 1, 12, 0)
    assert echo(naive) == naive.replace(tzinfo=UTC)


def test_aware_datetime_keeps_its_instant(echo: Any) -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2020, 1, 1, 12, 0, tzinfo=plus_two)
    assert echo(moment) == moment  # equal instants, returned in UTC


def test_big_ints_become_bigints_in_js(ctx: v8cage.Context) -> None:
    ctx.eval("function kind(x) { return typeof x }")
    assert ctx.call("kind", 2**53 - 1) == "number"
    assert ctx.call("kind", 2**53 + 1) == "bigint"
    assert ctx.call("kind", b"x") == "object"


def test_bigints_of_any_size_within_the_bound_need_no_decimal_text(ctx: v8cage.Context) -> None:
    # Python refuses decimal text of more than 4,300 digits by default
    # (sys.set_int_max_str_digits); BigInts cross as bytes instead.
    ctx.eval("function echo(x) { return x }")
    ctx.eval("function isTenTo(x, n) { return x === 10n ** BigInt(n) }")
    assert ctx.eval("10n ** 4999n") == 10**4999
    assert ctx.eval("-(10n ** 4999n)") == -(10**4999)
    assert ctx.call("isTenTo", 10**20000, 20000) is True
    largest = 2 ** (2**20) - 1
    assert ctx.call("echo", largest) == largest
    assert ctx.call("echo", -largest) == -largest
    assert ctx.eval("0n") == 0
    with pytest.raises(v8cage.JSInvalidInputError):
        ctx.call("echo", 2 ** (2**20))
    with pytest.raises(v8cage.JSConversionError):
        ctx.eval("2n ** 1048576n")


@pytest.mark.parametrize("value", [object(), {1, 2}, 1j, print])
def test_unsupported_types_raise_type_error_naming_the_type(ctx: v8cage.Context, value: Any) -> None:
    ctx.eval("function echo(x) { return x }")
    with pytest.raises(TypeError, match=type(value).__qualname__):
        ctx.call("echo", value)


def test_non_string_keys_are_refused(ctx: v8cage.Context) -> None:
    ctx.eval("function echo(x) { return x }")
    with pytest.raises(TypeError, match="keys must be str"):
        ctx.call("echo", {1: "one"})


def test_cyclic_arguments_are_refused(ctx: v8cage.Context) -> None:
    ctx.eval("function echo(x) { return x }")
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(v8cage.JSConversionError):
        ctx.call("echo", cycle)
    assert ctx.call("echo", [1]) == [1]


def test_a_jsfunction_passed_back_is_the_same_function(ctx: v8cage.Context) -> None:
    f = ctx.eval("var f = function f() {}; f")
    ctx.eval("function same(x) { return x === f }")
    assert ctx.call("same", f) is True
    # Not into another context.
    with v8cage.Context() as other:
        other.eval("function id(x) { return x }")
        with pytest.raises(v8cage.JSInvalidInputError):
            other.call("id", f)
