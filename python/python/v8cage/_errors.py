"""The exceptions v8cage raises. Every one derives from :class:`JSError`."""

from typing import Optional


class JSError(Exception):
    """Base class of every error JavaScript evaluation raises."""


class JSSyntaxError(JSError):
    """The source does not parse. ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, text: str = "", line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.text = text
        self.line = line
        self.column = column


class JSEvalError(JSError):
    """JavaScript threw. ``name`` is the error's name ("TypeError"; empty for
    a thrown non-Error), ``message`` its message, ``stack`` its stack trace."""

    def __init__(self, message: str, name: str = "", text: str = "", stack: Optional[str] = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = text
        self.stack = stack


class JSTimeoutError(JSError, TimeoutError):
    """The timeout ran out; the context stays usable."""


class JSOOMError(JSError, MemoryError):
    """The context reached its memory limit; the script was stopped."""


class JSTerminatedError(JSError):
    """``Context.terminate()`` (or Ctrl-C) stopped the evaluation."""


class JSConversionError(JSError):
    """A value cannot cross between JavaScript and Python (cycle, depth,
    size, a Symbol, a getter that throws, an invalid Date...)."""


class JSInvalidInputError(JSError, ValueError):
    """The input cannot be given to V8: the context is closed, no such
    function, source too long..."""


class JSCrashedError(JSError):
    """The worker process of a ``Context(isolation="process")`` died (a V8
    fatal error, a signal, the sandbox refusing a system call) or broke the
    protocol. ``signal`` is the signal that ended it, if any. The context is
    lost: every later call raises this at once; create a new one."""

    def __init__(self, message: str, signal: Optional[int] = None) -> None:
        super().__init__(message)
        self.signal = signal
