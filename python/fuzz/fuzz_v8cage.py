"""atheris target over the Python binding: Context.eval of arbitrary source,
and the Python -> JS -> Python round trip of generated values.

    target/python-venv/bin/python python/fuzz/fuzz_v8cage.py -max_total_time=60

Inputs that once failed live in python/fuzz/regressions/; `cargo xtask
py-fuzz` replays them before fuzzing.

Coverage comes from the Python side only (atheris instruments Python
bytecode; the Rust/C++ core has its own libFuzzer and AFL targets).

Oracles: eval gives a value or a v8cage.JSError (never another exception or
a crash), the context keeps evaluating, and call() of an identity function
returns an equal value (after JS's own normalisation: tuples -> lists, one
number type).
"""

import datetime
import math
import sys

import atheris

with atheris.instrument_imports():
    import v8cage

UTC = datetime.timezone.utc
CTX = v8cage.Context(timeout=0.05, max_memory=32 << 20)
CTX.eval("function echo(x) { return x }")


def build(fdp, depth=0):
    """A value the binding accepts, from the fuzzer's bytes."""
    kind = fdp.ConsumeIntInRange(0, 11 if depth < 4 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeIntInRange(-(2**53) + 1, 2**53 - 1)
    if kind == 3:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 40))  # beyond 2^53: BigInt
    if kind == 4:
        return fdp.ConsumeRegularFloat()
    if kind == 5:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 64))
    if kind == 6:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    if kind == 7:
        ms = fdp.ConsumeIntInRange(-(10**12), 10**13)
        return datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(milliseconds=ms)
    if kind == 8:
        return v8cage.Undefined
    if kind == 9:
        return [build(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5))]
    if kind == 10:
        return tuple(build(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5)))
    return {
        fdp.ConsumeUnicodeNoSurrogates(8): build(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5))
    }


def as_js_returns_it(value):
    """What the value looks like after a trip through JS."""
    if isinstance(value, (list, tuple)):
        return [as_js_returns_it(v) for v in value]
    if isinstance(value, dict):
        # JS orders integer-like keys first, ascending; dict equality ignores order.
        return {k: as_js_returns_it(v) for k, v in value.items()}
    return value


def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b and (a is v8cage.Undefined) == (b is v8cage.Undefined)


def test_one_input(data):
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        source = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
        try:
            CTX.eval(source)
        except v8cage.JSError:
            pass
    else:
        value = build(fdp)
        try:
            got = CTX.call("echo", value)
        except v8cage.JSTimeoutError:
            # The value is small: only a loaded machine makes 50 ms run out
            # (the Rust roundtrip target allows it too). The check below
            # still demands a working context.
            pass
        else:
            expected = as_js_returns_it(value)
            if not same(got, expected):
                raise AssertionError(f"round trip changed {value!r} into {got!r}")
    try:
        alive = CTX.eval("1 + 1")
    except v8cage.JSOOMError:
        return  # live data kept over the limit: the context says so every time
    if alive != 2:
        raise AssertionError(f"context broken after the input: 1 + 1 = {alive!r}")


def main():
    # The native module is not coverage-instrumented; Python code (this
    # generator and oracle, the v8cage package) is, so inputs that reach new
    # value shapes and error paths are kept.
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
