"""``MiniRacer``: mini-racer's (``py_mini_racer``'s) API on a
:class:`v8cage.Context`, so ``from v8cage import MiniRacer`` replaces
``from py_mini_racer import MiniRacer``: the same methods, value types
(live ``JSObject``/``JSArray`` proxies, ``JSFunction``, ``JSPromise``,
``JSSymbol``), exception classes and message texts, ``setTimeout``, and the
async API (``mini_racer()``, ``eval_cancelable``, ``wrap_py_function``).
The differences are listed in the README."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Awaitable, Generator
from contextlib import asynccontextmanager, contextmanager
from json import JSONEncoder
from types import TracebackType
from typing import Any, Callable, ClassVar

from ._errors import JSInvalidInputError, JSValueError, LibAlreadyInitializedError, WrongReturnTypeException
from ._objects import JSFunction, async_bridge, run_cancelable
from ._v8cage import Context, set_flags

# V8 flags init_mini_racer passes by default. mini-racer's are
# ("--single-threaded",); v8cage keeps V8's defaults.
DEFAULT_V8_FLAGS: tuple[str, ...] = ()

PyJsFunctionType = Callable[..., Awaitable[Any]]


def init_mini_racer(
    *, flags: tuple[str, ...] = DEFAULT_V8_FLAGS, ignore_duplicate_init: bool = False
) -> None:
    """Starts V8 with ``flags`` (mini-racer's ``init_mini_racer``). V8
    starts once per process, with the first context: a later call raises
    LibAlreadyInitializedError, unless ``ignore_duplicate_init``. Flags that
    could abort the process or print are refused (JSInvalidInputError)."""
    global _initialized
    with _lock:
        if not _initialized:
            try:
                set_flags(" ".join(flags))
            except JSInvalidInputError as error:
                if "before the first Context" not in str(error):
                    raise
            else:
                Context().close()  # starts V8 with the flags
                _initialized = True
                return
            _initialized = True
    if not ignore_duplicate_init:
        raise LibAlreadyInitializedError


_initialized = False
_lock = threading.Lock()


class _Version(str):
    """``v8_version`` is a property in mini-racer >= 0.12 and a method before;
    this string works as both."""

    def __call__(self) -> str:
        return str(self)


class MiniRacer:
    """Evaluates JavaScript in its own V8 isolate (a :class:`v8cage.Context`
    whose results are live proxies, with ``setTimeout``).

    ``isolation="process"`` runs V8 in a sandboxed worker process (see
    :class:`v8cage.Context`; Python functions cannot be wrapped there).

    Attributes:
        json_impl: the JSON module ``execute`` and ``call`` use (default: json).
    """

    json_impl: ClassVar[Any] = json

    def __init__(self, context: Context | None = None, isolation: str = "in-process") -> None:
        if context is None:
            context = Context(isolation=isolation, objects="handles", event_loop=True)
            context._use_mini_racer_messages()
        self._ctx: Context | None = context
        self._soft_limit = 0
        self._hard_limit = 0

    def _context(self) -> Context:
        if self._ctx is None:
            raise JSValueError("this MiniRacer is closed")
        return self._ctx

    @property
    def v8_version(self) -> str:
        """The V8 version (four numbers, as mini-racer gives it)."""
        from ._v8cage import v8_version

        return _Version(".".join(v8_version().split("-")[0].split(".")[:4]))

    def eval(
        self,
        code: str,
        timeout: float | None = None,
        timeout_sec: float | None = None,
        max_memory: int | None = None,
    ) -> Any:
        """Evaluates ``code``; returns its last expression's value.

        ``timeout``: milliseconds (deprecated in mini-racer); ``timeout_sec``:
        seconds; ``max_memory``: sets the hard memory limit, in bytes.
        """
        if max_memory is not None:
            self.set_hard_memory_limit(max_memory)
        if timeout:
            timeout_sec = timeout / 1000
        return self._context().eval(code, timeout=timeout_sec or None)

    async def eval_cancelable(self, code: str) -> Any:
        """``eval`` as a coroutine: cancelling it (e.g. ``asyncio.wait_for``)
        terminates the JavaScript."""
        ctx = self._context()
        return await run_cancelable(ctx, lambda: ctx.eval(code))

    def execute(
        self,
        expr: str,
        timeout: float | None = None,
        timeout_sec: float | None = None,
        max_memory: int | None = None,
    ) -> Any:
        """Evaluates a JS expression and returns it through JSON
        (``JSON.stringify`` in JS, ``json_impl.loads`` here)."""
        if timeout:
            timeout_sec = timeout / 1000
        wrapped = f"JSON.stringify((function(){{return ({expr})}})())"
        result = self.eval(wrapped, timeout_sec=timeout_sec, max_memory=max_memory)
        if not isinstance(result, str):
            raise WrongReturnTypeException(type(result))
        return self.json_impl.loads(result)

    def call(
        self,
        expr: str,
        *args: Any,
        encoder: type[JSONEncoder] | None = None,
        timeout: float | None = None,
        timeout_sec: float | None = None,
        max_memory: int | None = None,
    ) -> Any:
        """Calls the JS function ``expr`` with ``args`` passed as JSON
        (``json_impl.dumps``, with ``encoder``), and returns its result
        through JSON."""
        if timeout:
            timeout_sec = timeout / 1000
        json_args = self.json_impl.dumps(args, separators=(",", ":"), cls=encoder)
        return self.execute(
            f"{expr}.apply(this, {json_args})", timeout_sec=timeout_sec, max_memory=max_memory
        )

    @asynccontextmanager
    async def wrap_py_function(self, func: PyJsFunctionType) -> AsyncGenerator[JSFunction, None]:
        """A JS function that calls the async Python function ``func`` and
        returns a Promise of its result (rejected with an Error carrying the
        traceback if it raises). Calls still running when the block ends are
        cancelled."""
        jsfunc, running = async_bridge(self._context(), func)
        try:
            yield jsfunc
        finally:
            for task in list(running):
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    def _apply_memory_limits(self) -> None:
        ctx = self._context()
        ctx.set_memory_limits(soft=self._soft_limit or None, hard=self._hard_limit or None)

    def set_hard_memory_limit(self, limit: int) -> None:
        """Stops JavaScript (JSOOMException) once its heap passes ``limit``
        bytes; 0 removes the limit."""
        self._hard_limit = limit
        self._apply_memory_limits()

    def set_soft_memory_limit(self, limit: int) -> None:
        """Records (see :meth:`was_soft_memory_limit_reached`) when the heap
        passes ``limit`` bytes; 0 removes the limit."""
        self._soft_limit = limit
        self._apply_memory_limits()

    def was_hard_memory_limit_reached(self) -> bool:
        return self._context().memory_limits_reached()[1]

    def was_soft_memory_limit_reached(self) -> bool:
        return self._context().memory_limits_reached()[0]

    def low_memory_notification(self) -> None:
        """Runs a full garbage collection."""
        self._context().low_memory_notification()

    def heap_stats(self) -> Any:
        """V8 heap statistics: used_heap_size, total_heap_size,
        heap_size_limit (as mini-racer) and external_memory."""
        return self._context().heap_stats()

    def heap_snapshot(self) -> Any:
        """V8's heap snapshot (what Chrome DevTools loads), parsed with ``json_impl``."""
        return self.json_impl.loads(self._context().heap_snapshot())

    def close(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> None:
        """Frees the isolate. Using this MiniRacer afterwards raises JSValueError."""
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            ctx.close()

    def __enter__(self) -> MiniRacer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.close(exc_type, exc_val, exc_tb)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 (interpreter teardown order)
            pass


@contextmanager
def mini_racer(event_loop: asyncio.AbstractEventLoop | None = None) -> Generator[MiniRacer, None, None]:
    """A MiniRacer for async code, closed when the block ends (mini-racer's
    ``mini_racer()``). ``event_loop`` is accepted for compatibility: v8cage
    needs no loop of its own."""
    del event_loop
    racer = MiniRacer()
    try:
        yield racer
    finally:
        # Its context is freed; the MiniRacer object stays inspectable.
        context = racer._ctx
        if context is not None:
            context.close()


# mini-racer 0.4/0.5's name; the same class there too.
StrictMiniRacer = MiniRacer

__all__ = [
    "DEFAULT_V8_FLAGS",
    "MiniRacer",
    "PyJsFunctionType",
    "StrictMiniRacer",
    "init_mini_racer",
    "mini_racer",
]
