"""Hostile results and leaks: bounded errors, never a hang or a crash."""

from typing import Any

import pytest
import v8cage


def test_cycles_throwing_getters_and_looping_proxies() -> None:
    with v8cage.Context(timeout=60) as ctx:
        with pytest.raises(v8cage.JSConversionError):
            ctx.eval("const a = [1]; a.push(a); a")
        with pytest.raises(v8cage.JSConversionError):
            ctx.eval("({ get boom() { throw new Error('getter') } })")
        with pytest.raises(v8cage.JSTimeoutError):
            ctx.eval("new Proxy({}, { ownKeys() { for (;;) {} } })", timeout=0.2)
        with pytest.raises(v8cage.JSConversionError):
            ctx.eval("let d = []; for (let i = 0; i < 5000; i++) d = [d]; d")
        assert ctx.eval("[1, 2]") == [1, 2]


def _rss_bytes() -> Any:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_two_thousand_contexts_do_not_leak() -> None:
    def cycle(i: Any) -> None:
        with v8cage.Context(max_memory=16 << 20) as ctx:
            assert ctx.eval(f"({{ i: {i}, s: 'x'.repeat(100) }})")["i"] == i
            assert ctx.call("Math.max", i, 1) == max(i, 1)

    for i in range(200):  # warm-up: V8's process-wide state, allocator arenas
        cycle(i)
    before = _rss_bytes()
    for i in range(2000):
        cycle(i)
    growth = _rss_bytes() - before
    assert growth < 20 << 20, f"RSS grew by {growth >> 20} MiB over 2,000 contexts"
