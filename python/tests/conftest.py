from collections.abc import Iterator
from typing import Any

import pytest
import v8cage


@pytest.fixture
def ctx() -> Iterator[Any]:
    with v8cage.Context(timeout=5) as context:
        yield context
