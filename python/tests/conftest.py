from collections.abc import Iterator
from typing import Any

import pytest
import v8cage


@pytest.fixture
def ctx() -> Iterator[Any]:
    with v8cage.Context(timeout=5) as context:
        yield context


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # Which engine the suite ran on: the same suite runs on Debian's V8 10.2
    # and on the current V8 (`cargo xtask test --full`).
    with v8cage.Context() as ctx:
        sandbox = "on" if ctx.v8_is_using_sandbox() else "off"
    terminalreporter.write_line(f"v8cage ran on V8 {v8cage.v8_version()} (V8 sandbox {sandbox})")
