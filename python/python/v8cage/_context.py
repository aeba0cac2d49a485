"""mini-racer's ``py_mini_racer._context`` module: ``context_count``."""

from ._v8cage import _context_count


def context_count() -> int:
    """How many v8cage contexts are alive in this process."""
    return _context_count()
