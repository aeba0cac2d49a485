import pytest
import v8cage


@pytest.fixture
def ctx():
    with v8cage.Context(timeout=5) as context:
        yield context
