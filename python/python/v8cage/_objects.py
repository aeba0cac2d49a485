"""Live proxies of JavaScript values kept in their context (handles).

Results that are not copied come back as one of these: functions always;
promises, symbols, maps, sets, errors and regexps in every context; every
object with ``Context(objects="handles")`` (what ``MiniRacer`` uses, as
mini-racer does). Reads and writes go through to JavaScript; the context
keeps the value alive while the proxy lives.
"""

from __future__ import annotations

import asyncio
import ctypes
import traceback
from collections.abc import (
    Awaitable,
    Callable,
    Generator,
    Iterator,
    MutableMapping,
    MutableSequence,
    MutableSet,
)
from typing import TYPE_CHECKING, Any, ClassVar, overload

from ._errors import JSArrayIndexError, JSKeyError, JSPromiseError, JSTimeoutException
from ._v8cage import JSHandle, Undefined

if TYPE_CHECKING:
    from ._v8cage import Context

# Longest pause between two looks at a pending promise while awaiting it:
# V8's own tasks (e.g. WebAssembly compilation) finish unannounced.
_MAX_POLL = 0.02


class JSObject:
    """A JavaScript object kept in its context."""

    __slots__ = ("_handle",)

    def __init__(self, handle: JSHandle) -> None:
        self._handle = handle

    @property
    def _ctx(self) -> Context:
        return self._handle.context

    def _method(self, name: str, *args: Any) -> Any:
        """Calls this object's method ``name``."""
        ctx = self._ctx
        return ctx._call(ctx._get(self, name), self, args)

    def __hash__(self) -> int:
        return hash(self._handle)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JSObject):
            return NotImplemented
        if self._handle == other._handle:
            return True
        # The same value may come back under another handle.
        ctx = self._ctx
        return ctx is other._ctx and bool(
            ctx._call(ctx._get(ctx._get(None, "Object"), "is"), None, (self, other))
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._handle.label!r}>"


class JSMappedObject(JSObject, MutableMapping[Any, Any]):
    """An object as a live mapping of its enumerable string keys (inherited
    ones too, as ``for...in`` lists them; index keys as ints)."""

    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:
        value = self._ctx._get(self, key)
        if value is Undefined and not self._ctx._has(self, key):
            raise JSKeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self._ctx._set(self, key, value)

    def __delitem__(self, key: Any) -> None:
        if not self._ctx._delete(self, key):
            raise JSKeyError(key)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._ctx._keys(self))

    def __len__(self) -> int:
        return len(self._ctx._keys(self))

    def __contains__(self, key: object) -> bool:
        return bool(self._ctx._has(self, key))

    def __bool__(self) -> bool:
        return len(self) > 0

    @property
    def stack(self) -> str | None:
        """An error's ``stack`` (None for other objects)."""
        if self._handle.kind != "error":
            return None
        stack = self._ctx._get(self, "stack")
        return stack if isinstance(stack, str) else None

    def __str__(self) -> str:
        """JavaScript's ``toString()`` of an error or regexp."""
        if self._handle.kind in ("error", "regexp"):
            return str(self._method("toString"))
        return repr(self)

    # Contents compare equal, as mini-racer's objects do; Mapping would make
    # proxies unhashable: they hash by identity.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, JSObject) and JSObject.__eq__(self, other):
            return True
        return MutableMapping.__eq__(self, other)

    __hash__ = JSObject.__hash__


class JSArray(JSObject, MutableSequence[Any]):
    """A live JavaScript array."""

    __slots__ = ()

    def __len__(self) -> int:
        return int(self._ctx._get(self, "length"))

    def _index(self, index: int, length: int | None = None) -> int:
        if not isinstance(index, int):
            raise TypeError(f"JSArray indices must be ints, not {type(index).__name__}")
        length = len(self) if length is None else length
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise JSArrayIndexError
        return index

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._ctx._get(self, self._index(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            raise TypeError("JSArray does not support slice assignment")
        self._ctx._set(self, self._index(index), value)

    def __delitem__(self, index: Any) -> None:
        if isinstance(index, slice):
            raise TypeError("JSArray does not support slice deletion")
        self._splice(self._index(index), 1)

    def _splice(self, start: int, count: int, *items: Any) -> None:
        self._method("splice", start, count, *items)

    def insert(self, index: int, value: Any) -> None:
        length = len(self)
        if index < 0:
            index = max(0, index + length)
        self._splice(min(index, length), 0, value)

    def append(self, value: Any) -> None:
        self._method("push", value)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self._ctx._get(self, i)

    def __bool__(self) -> bool:
        return len(self) > 0

    __hash__ = JSObject.__hash__
    __eq__ = JSObject.__eq__


class JSFunction(JSMappedObject):
    """A JavaScript function: calling it runs it in its context, under the
    context's limits (``timeout``/``timeout_sec``: seconds for this call)."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return self._handle.label

    def __call__(
        self,
        *args: Any,
        this: Any = None,
        timeout: float | None = None,
        timeout_sec: float | None = None,
    ) -> Any:
        return self._ctx._call(self, this, args, timeout or timeout_sec)

    def cancelable(self) -> CancelableJSFunction:
        """This function as a coroutine function whose calls stop the
        JavaScript when they are cancelled (e.g. by ``asyncio.wait_for``)."""
        return CancelableJSFunction(self._handle)


class CancelableJSFunction(JSMappedObject):
    """A JavaScript function called as a coroutine; cancelling the call
    terminates the JavaScript."""

    __slots__ = ()

    async def __call__(self, *args: Any, this: Any = None) -> Any:
        ctx = self._ctx
        return await run_cancelable(ctx, lambda: ctx._call(self, this, args))


class JSMap(JSObject, MutableMapping[Any, Any]):
    """A live JavaScript ``Map``: its entries (any keys), not its properties."""

    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:
        if not self._method("has", key):
            raise JSKeyError(key)
        return self._method("get", key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._method("set", key, value)

    def __delitem__(self, key: Any) -> None:
        if not self._method("delete", key):
            raise JSKeyError(key)

    def __contains__(self, key: object) -> bool:
        return bool(self._method("has", key))

    def __iter__(self) -> Iterator[Any]:
        return iter(_listed(self._ctx, self, "keys"))

    def __len__(self) -> int:
        return int(self._ctx._get(self, "size"))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JSObject) and JSObject.__eq__(self, other):
            return True
        return MutableMapping.__eq__(self, other)

    __hash__ = JSObject.__hash__


class JSSet(JSObject, MutableSet[Any]):
    """A live JavaScript ``Set``: its values."""

    __slots__ = ()

    def __contains__(self, value: object) -> bool:
        return bool(self._method("has", value))

    def __iter__(self) -> Iterator[Any]:
        return iter(_listed(self._ctx, self, "values"))

    def __len__(self) -> int:
        return int(self._ctx._get(self, "size"))

    def add(self, value: Any) -> None:
        self._method("add", value)

    def discard(self, value: Any) -> None:
        self._method("delete", value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JSObject) and JSObject.__eq__(self, other):
            return True
        return MutableSet.__eq__(self, other)

    __hash__ = JSObject.__hash__


def _listed(ctx: Context, collection: JSObject, method: str) -> list[Any]:
    """``Array.from(collection[method]())`` as a Python list (a snapshot)."""
    iterator = ctx._call(ctx._get(collection, method), collection, ())
    array = ctx._call(ctx._get(ctx._get(None, "Array"), "from"), None, (iterator,))
    return list(array)


class JSSymbol(JSMappedObject):
    """A JavaScript symbol (``description`` is its description)."""

    __slots__ = ()

    @property
    def description(self) -> str:
        return self._handle.label

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0


class JSPromise(JSObject):
    """A JavaScript promise: ``get()`` waits for it (running the context's
    timers meanwhile), ``await`` does the same without blocking the loop.
    A rejection raises :class:`JSPromiseError`."""

    __slots__ = ()

    def get(self, *, timeout: float | None = None) -> Any:
        state, value = self._ctx._await_promise(self, timeout)
        return _outcome(state, value)

    def __await__(self) -> Generator[Any, None, Any]:
        return self._settled().__await__()

    async def _settled(self) -> Any:
        ctx = self._ctx
        poll = 0.0005
        while True:
            next_timer = ctx.run_pending()
            state, value = ctx._promise_state(self)
            if state != 0:
                return _outcome(state, value)
            pause = poll if next_timer is None else min(poll, next_timer)
            await asyncio.sleep(pause)
            poll = min(poll * 2, _MAX_POLL)


def _outcome(state: int, value: Any) -> Any:
    if state == 1:
        return value
    if state == 2:
        raise JSPromiseError(value)
    raise JSTimeoutException("the promise did not settle in time")


async def run_cancelable(ctx: Context, work: Any) -> Any:
    """Runs ``work`` (which uses ``ctx``) in a worker thread; cancelling the
    awaiting task terminates the JavaScript it runs."""
    cancellation = ctx._cancellation()
    future = asyncio.get_running_loop().run_in_executor(None, cancellation.run, work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # Not ctx.terminate(): the worker thread may not have entered the
        # context yet, and a terminate then stops nothing.
        cancellation.cancel()
        future.add_done_callback(_drop_outcome)
        raise


def _drop_outcome(future: asyncio.Future[Any]) -> None:
    """Retrieves a stopped call's exception and drops its traceback, whose
    frames would keep the call's arguments (handles) alive."""
    if not future.cancelled() and (error := future.exception()) is not None:
        error.with_traceback(None)


async def eval_async(ctx: Context, code: str, timeout: float | None) -> Any:
    """``Context.eval_async``: eval in a worker thread, then await a promise result."""
    result = await run_cancelable(ctx, lambda: ctx.eval(code, timeout=timeout))
    if isinstance(result, JSPromise):
        return await result
    return result


def expose_async(ctx: Context, name: str, function: Callable[..., Awaitable[Any]]) -> None:
    """``Context.expose`` for an async function: JavaScript gets a function
    returning a Promise, settled when the coroutine (run on the event loop
    running now) finishes; an exception rejects it with an Error carrying
    the traceback."""
    ctx._set(None, name, async_bridge(ctx, function)[0])


def async_bridge(
    ctx: Context, function: Callable[..., Awaitable[Any]]
) -> tuple[JSFunction, set[asyncio.Task[None]]]:
    """A JS function calling the async ``function`` (see ``expose_async``),
    and the set of its calls in flight (tasks on the running loop)."""
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[None]] = set()

    def start(resolve: JSFunction, reject: JSFunction, *args: Any) -> None:
        async def run() -> None:
            try:
                value = await function(*args)
            except Exception:  # noqa: BLE001 (reported to JavaScript)
                reject("Error running Python function:\n" + traceback.format_exc())
            else:
                resolve(value)

        def schedule() -> None:
            task = loop.create_task(run())
            running.add(task)
            task.add_done_callback(running.discard)

        loop.call_soon_threadsafe(schedule)

    # The Error a failed call rejects with gets the stack of the call site
    # (captured when JavaScript called), as mini-racer's does.
    make = ctx.eval(
        "(bridge) => function (...args) { const site = new Error();"
        " return new Promise((resolve, reject) => bridge(resolve, (message) => {"
        " const error = new Error(message), frames = String(site.stack);"
        " error.stack = `Error: ${message}` + frames.slice(frames.indexOf('\\n'));"
        " reject(error) }, ...args)) }"
    )
    return make(ctx._host_function(start)), running


_KINDS: dict[str, type[JSObject]] = {
    "function": JSFunction,
    "map": JSMap,
    "set": JSSet,
    "array": JSArray,
    "promise": JSPromise,
    "symbol": JSSymbol,
}


class _Byte(ctypes.Structure):
    # A one-byte structure, not c_ubyte, whose memoryview format ("<B") is
    # not "B": cast("B") below needs native single bytes.
    _fields_: ClassVar[list[tuple[str, type]]] = [("b", ctypes.c_ubyte)]
    _pack_ = 1


def buffer_view(handle: JSHandle) -> memoryview:
    """A writable memoryview of an ArrayBuffer's memory, shared with
    JavaScript; it keeps the buffer (and so the memory) alive."""
    memory = handle.memory
    if memory is None:
        raise TypeError(f"{handle!r} is not an ArrayBuffer of this process")
    address, length = memory
    if length == 0:
        return memoryview(bytearray())
    view = (_Byte * length).from_address(address)
    view._handle = handle  # type: ignore[attr-defined]  # keeps the memory lent
    return memoryview(view).cast("B")


def wrap(handle: JSHandle) -> Any:
    """The proxy for ``handle`` (the native module calls this); an
    ArrayBuffer's memory as a memoryview."""
    if handle.kind == "arraybuffer":
        return buffer_view(handle)
    return _KINDS.get(handle.kind, JSMappedObject)(handle)


__all__ = [
    "CancelableJSFunction",
    "JSArray",
    "JSFunction",
    "JSMap",
    "JSMappedObject",
    "JSObject",
    "JSPromise",
    "JSSet",
    "JSSymbol",
]
