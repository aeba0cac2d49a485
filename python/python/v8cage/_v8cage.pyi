"""Type stubs of the native module v8cage._v8cage."""

from types import TracebackType
from typing import Any, final

@final
class JSUndefinedType:
    """The type of ``Undefined`` (JavaScript ``undefined``); falsy."""

    def __bool__(self) -> bool: ...

Undefined: JSUndefinedType

@final
class JSFunction:
    """A JavaScript function returned by ``eval``/``call``. Calling it runs
    the function in its context (``this`` undefined) under the context's
    limits; it stays callable while this object lives."""

    @property
    def name(self) -> str: ...
    def __call__(self, *args: Any, timeout: float | None = None) -> Any: ...

@final
class Context:
    """One V8 isolate with its own global scope and limits.

    ``timeout``: seconds for each eval/call (None: no limit).
    ``max_memory``: JS heap limit in bytes (None: V8's default).
    ``isolation``: ``"in-process"`` (default) or ``"process"``: V8 in a
    sandboxed worker process; a crash there raises ``JSCrashedError``.
    """

    def __init__(
        self,
        timeout: float | None = None,
        max_memory: int | None = None,
        isolation: str = "in-process",
    ) -> None: ...
    def isolation_report(self) -> dict[str, Any] | None: ...
    def eval(self, code: str, timeout: float | None = None) -> Any: ...
    def call(self, name: str, *args: Any, timeout: float | None = None) -> Any: ...
    def set_memory_limits(self, soft: int | None = None, hard: int | None = None) -> None: ...
    def memory_limits_reached(self) -> tuple[bool, bool]: ...
    def heap_stats(self) -> dict[str, int]: ...
    def low_memory_notification(self) -> None: ...
    def terminate(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Context: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

def v8_version() -> str: ...
def prestart_worker() -> None: ...
def _watch_interrupts(read_fd: int) -> None:
    """Starts the Ctrl-C watcher on the read end of the wakeup pipe."""
