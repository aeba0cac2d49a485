"""Type stubs of the native module v8cage._v8cage."""

from types import TracebackType
from typing import Any, Dict, Optional, Type, final

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
    def __call__(self, *args: Any, timeout: Optional[float] = None) -> Any: ...

@final
class Context:
    """One V8 isolate with its own global scope and limits.

    ``timeout``: seconds for each eval/call (None: no limit).
    ``max_memory``: JS heap limit in bytes (None: V8's default).
    """

    def __init__(self, timeout: Optional[float] = None, max_memory: Optional[int] = None) -> None: ...
    def eval(self, code: str, timeout: Optional[float] = None) -> Any: ...
    def call(self, name: str, *args: Any, timeout: Optional[float] = None) -> Any: ...
    def heap_stats(self) -> Dict[str, int]: ...
    def low_memory_notification(self) -> None: ...
    def terminate(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> "Context": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

def v8_version() -> str: ...
