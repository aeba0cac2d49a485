"""The exceptions v8cage raises. Every one derives from :class:`JSError`.

Each also derives from the mini-racer (``py_mini_racer``) exception of the
same meaning, so code written for mini-racer catches v8cage's errors:
``JSEvalError`` is a ``JSEvalException``, ``JSTimeoutError`` a
``JSTimeoutException``...
"""

from typing import Any, Optional

# ---- mini-racer's exception classes (same names, same bases) --------------


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


class JSPromiseError(MiniRacerBaseException):
    """JavaScript rejected a promise; ``reason`` is the rejection value."""

    def __init__(self, reason: Any) -> None:
        super().__init__(f"JavaScript rejected promise with reason: {_describe_reason(reason)}\n")
        self.reason = reason


def _describe_reason(reason: Any) -> str:
    stack = getattr(reason, "stack", None)
    return stack if isinstance(stack, str) else str(reason)


class JSArrayIndexError(IndexError, MiniRacerBaseException):
    """Invalid index into a JSArray."""

    def __init__(self) -> None:
        super().__init__("JSArray deletion out of range")


class WrongReturnTypeException(MiniRacerBaseException):
    """Invalid type returned by the JavaScript runtime."""

    def __init__(self, typ: type) -> None:
        super().__init__(f"Unexpected return value type {typ}")


class LibAlreadyInitializedError(MiniRacerBaseException):
    """``init_mini_racer`` was called after V8 started."""

    def __init__(self) -> None:
        super().__init__("MiniRacer was already initialized before the call to init_mini_racer")


class LibNotFoundError(MiniRacerBaseException):
    """mini-racer's: its native library is missing (v8cage never raises it)."""


# ---- v8cage's own -----------------------------------------------------------


class JSError(MiniRacerBaseException):
    """Base class of every error JavaScript evaluation raises."""


class JSSyntaxError(JSError, JSParseException):
    """The source does not parse. ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, text: str = "", line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.text = text
        self.line = line
        self.column = column


class JSEvalError(JSError, JSEvalException):
    """JavaScript threw. ``name`` is the error's name ("TypeError"; empty for
    a thrown non-Error), ``message`` its message, ``stack`` its stack trace;
    ``script``, ``line`` (1-based) and ``column`` (0-based) where it was
    thrown, when V8 knows (``script`` None and ``line`` 0 otherwise)."""

    def __init__(
        self,
        message: str,
        name: str = "",
        text: str = "",
        stack: Optional[str] = None,
        script: Optional[str] = None,
        line: int = 0,
        column: int = 0,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.message = text
        self.stack = stack
        self.script = script
        self.line = line
        self.column = column


class JSTimeoutError(JSError, JSTimeoutException):
    """The timeout ran out; the context stays usable."""

    def __init__(self, message: str = "evaluation timed out") -> None:
        super().__init__(message)


class JSCpuTimeLimitError(JSTimeoutError):
    """The evaluation used up the context's ``cpu_time_limit`` (CPU time, not
    wall-clock time); the context stays usable. A ``JSTimeoutError`` too, so
    code that handles timeouts handles it."""

    def __init__(self, message: str = "CPU time limit reached") -> None:
        super().__init__(message)


class JSOOMError(JSError, JSOOMException, MemoryError):
    """The context reached its memory limit; the script was stopped."""


class JSTerminatedError(JSError, JSTerminatedException):
    """``Context.terminate()`` (or Ctrl-C) stopped the evaluation."""


class JSConversionError(JSError, JSConversionException):
    """A value cannot cross between JavaScript and Python (cycle, depth,
    size, a Symbol, a getter that throws, an invalid Date...)."""


class JSInvalidInputError(JSError, JSValueError):
    """The input cannot be given to V8: the context is closed, no such
    function, source too long..."""


class JSCrashedError(JSError, JSEvalException):
    """The worker process of a ``Context(isolation="process")`` died (a V8
    fatal error, a signal, the sandbox refusing a system call) or broke the
    protocol. ``signal`` is the signal that ended it, if any. The context is
    lost: every later call raises this at once; create a new one."""

    def __init__(self, message: str, signal: Optional[int] = None) -> None:
        super().__init__(message)
        self.signal = signal
