"""``MiniRacer``: the synchronous API of the ``mini-racer`` package
(``py_mini_racer``) on top of :class:`v8cage.Context`, so that
``from v8cage import MiniRacer`` can replace ``from py_mini_racer import
MiniRacer``. Exceptions carry mini-racer's class names; each is raised
``from`` the v8cage error it translates. What is not covered is listed in
the README (async, ``wrap_py_function``, ``heap_snapshot``, JS object
proxies)."""

import json
from json import JSONEncoder
from types import TracebackType
from typing import Any, Callable, ClassVar, Optional, TypeVar

from . import _errors
from ._v8cage import Context, JSUndefinedType, Undefined

JSUndefined = Undefined

T = TypeVar("T")


class MiniRacerBaseException(Exception):  # noqa: N818 (mini-racer's name)
    """Base MiniRacer exception."""


class JSEvalException(MiniRacerBaseException):
    """JavaScript could not be executed."""


class JSParseException(JSEvalException):
    """JavaScript could not be parsed."""


class JSTimeoutException(JSEvalException, TimeoutError):
    """JavaScript execution timed out."""

    def __init__(self, message: str = "JavaScript was terminated by timeout") -> None:
        super().__init__(message)


class JSOOMException(JSEvalException):
    """JavaScript execution ran out of memory."""


class JSTerminatedException(JSEvalException):
    """JavaScript execution terminated."""


class JSValueError(JSEvalException, ValueError):
    """Bad value passed to JavaScript engine."""


class JSKeyError(JSEvalException, KeyError):
    """No such key found."""


class JSConversionException(MiniRacerBaseException):
    """Type could not be converted to or from JavaScript."""


class WrongReturnTypeException(MiniRacerBaseException):
    """Invalid type returned by the JavaScript runtime."""

    def __init__(self, typ: type) -> None:
        super().__init__(f"Unexpected return value type {typ}")


# Most specific first: v8cage's error -> mini-racer's.
_TRANSLATIONS = (
    (_errors.JSSyntaxError, JSParseException),
    (_errors.JSEvalError, JSEvalException),
    (_errors.JSTimeoutError, JSTimeoutException),
    (_errors.JSOOMError, JSOOMException),
    (_errors.JSTerminatedError, JSTerminatedException),
    (_errors.JSConversionError, JSConversionException),
    (_errors.JSInvalidInputError, JSValueError),
    (_errors.JSError, MiniRacerBaseException),
)


def _translated(work: Callable[[], T]) -> T:
    try:
        return work()
    except _errors.JSError as error:
        for ours, theirs in _TRANSLATIONS:
            if isinstance(error, ours):
                raise theirs(str(error)) from error
        raise


class _Version(str):
    """``v8_version`` is a property in mini-racer >= 0.12 and a method before;
    this string works as both."""

    def __call__(self) -> str:
        return str(self)


class MiniRacer:
    """Evaluates JavaScript in its own V8 isolate (a :class:`v8cage.Context`).

    Use it as a context manager, or call :meth:`close`; otherwise the isolate
    is freed when the object is collected.

    ``isolation="process"`` runs V8 in a sandboxed worker process (see
    :class:`v8cage.Context`).

    Attributes:
        json_impl: the JSON module ``execute`` and ``call`` use (default: json).
    """

    json_impl: ClassVar[Any] = json

    def __init__(self, isolation: str = "in-process") -> None:
        self._ctx: Optional[Context] = Context(isolation=isolation)
        self._soft_limit = 0
        self._hard_limit = 0

    def _context(self) -> Context:
        if self._ctx is None:
            raise JSValueError("this MiniRacer is closed")
        return self._ctx

    @property
    def v8_version(self) -> str:
        """The V8 version string."""
        from ._v8cage import v8_version

        return _Version(v8_version())

    def eval(
        self,
        code: str,
        timeout: Optional[float] = None,
        timeout_sec: Optional[float] = None,
        max_memory: Optional[int] = None,
    ) -> Any:
        """Evaluates ``code``; returns its last expression's value.

        ``timeout``: milliseconds (deprecated in mini-racer); ``timeout_sec``:
        seconds; ``max_memory``: sets the hard memory limit, in bytes.
        """
        if max_memory is not None:
            self.set_hard_memory_limit(max_memory)
        if timeout:
            timeout_sec = timeout / 1000
        ctx = self._context()
        return _translated(lambda: ctx.eval(code, timeout=timeout_sec or None))

    def execute(
        self,
        expr: str,
        timeout: Optional[float] = None,
        timeout_sec: Optional[float] = None,
        max_memory: Optional[int] = None,
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
        encoder: Optional[type[JSONEncoder]] = None,
        timeout: Optional[float] = None,
        timeout_sec: Optional[float] = None,
        max_memory: Optional[int] = None,
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

    def close(
        self,
        exc_type: Optional[type[BaseException]] = None,
        exc_val: Optional[BaseException] = None,
        exc_tb: Optional[TracebackType] = None,
    ) -> None:
        """Frees the isolate. Using this MiniRacer afterwards raises JSValueError."""
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            ctx.close()

    def __enter__(self) -> "MiniRacer":
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_val: Optional[BaseException],
        exc_tb: Optional[TracebackType],
    ) -> None:
        self.close(exc_type, exc_val, exc_tb)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 (interpreter teardown order)
            pass


__all__ = [
    "JSConversionException",
    "JSEvalException",
    "JSKeyError",
    "JSOOMException",
    "JSParseException",
    "JSTerminatedException",
    "JSTimeoutException",
    "JSUndefined",
    "JSUndefinedType",
    "JSValueError",
    "MiniRacer",
    "MiniRacerBaseException",
    "WrongReturnTypeException",
]
