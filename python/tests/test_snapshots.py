"""Startup snapshots: Snapshot.create, its bytes, Context(snapshot=...) in
both isolation modes."""

import pytest
import v8cage

ISOLATIONS = ["in-process", "process"]
SETUP = (
    "globalThis.base = 41; function next() { return base + 1 } class Box { constructor(v) { this.v = v } }"
)


@pytest.fixture(scope="module")
def snapshot() -> v8cage.Snapshot:
    return v8cage.Snapshot.create(SETUP)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_context_starts_from_the_snapshot(snapshot: v8cage.Snapshot, isolation: str) -> None:
    with v8cage.Context(timeout=60, isolation=isolation, snapshot=snapshot) as ctx:
        assert ctx.eval("[next(), new Box(3).v, typeof setTimeout]") == [42, 3, "function"]
    with v8cage.Context(timeout=60, isolation=isolation) as plain:
        assert plain.eval("typeof next") == "undefined"


def test_bytes_round_trip_and_damage_is_refused(snapshot: v8cage.Snapshot) -> None:
    data = snapshot.to_bytes()
    again = v8cage.Snapshot.from_bytes(data)
    assert len(again) == len(snapshot) > 0
    with v8cage.Context(timeout=60, snapshot=again) as ctx:
        assert ctx.eval("next()") == 42
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 1
    for bad in (bytes(damaged), data[:-1], data[:100], b""):
        with pytest.raises(v8cage.JSInvalidInputError):
            v8cage.Snapshot.from_bytes(bad)


def test_setup_errors_are_typed() -> None:
    with pytest.raises(v8cage.JSEvalError, match="setup"):
        v8cage.Snapshot.create("throw new RangeError('setup')")
    with pytest.raises(v8cage.JSTimeoutError):
        v8cage.Snapshot.create("for (;;) {}", timeout=0.2)
    with pytest.raises(v8cage.JSOOMError):
        v8cage.Snapshot.create("const a = []; for (;;) a.push(new Array(1e4).fill(1.5))", max_memory=32 << 20)
