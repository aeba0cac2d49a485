"""v8cage: run untrusted or heavy JavaScript from Python in a hardened V8.

``Context`` is one isolate with its own globals and limits; ``eval`` and
``call`` convert results to Python data (see the README for the mapping).
``MiniRacer`` offers mini-racer's synchronous API on the same core.
"""

from ._errors import (
    JSArrayIndexError,
    JSConversionError,
    JSConversionException,
    JSCpuTimeLimitError,
    JSCrashedError,
    JSError,
    JSEvalError,
    JSEvalException,
    JSInvalidInputError,
    JSKeyError,
    JSOOMError,
    JSOOMException,
    JSParseException,
    JSPromiseError,
    JSSyntaxError,
    JSTerminatedError,
    JSTerminatedException,
    JSTimeoutError,
    JSTimeoutException,
    JSValueError,
    LibAlreadyInitializedError,
    LibNotFoundError,
    MiniRacerBaseException,
    WrongReturnTypeException,
)
from ._mini_racer import (
    DEFAULT_V8_FLAGS,
    MiniRacer,
    PyJsFunctionType,
    StrictMiniRacer,
    init_mini_racer,
    mini_racer,
)
from ._objects import (
    CancelableJSFunction,
    JSArray,
    JSFunction,
    JSMap,
    JSMappedObject,
    JSObject,
    JSPromise,
    JSSet,
    JSSymbol,
)
from ._v8cage import (
    Context,
    JSHandle,
    JSUndefinedType,
    Snapshot,
    Undefined,
    icu_memory_counted,
    prestart_context,
    prestart_worker,
    set_flags,
    set_spare_contexts,
    v8_version,
)

JSUndefined = Undefined
# mini-racer's name for what a conversion may give.
PythonJSConvertedTypes = object

__all__ = [
    # v8cage's own API
    "Context",
    "JSConversionError",
    "JSCpuTimeLimitError",
    "JSCrashedError",
    "JSError",
    "JSEvalError",
    "JSHandle",
    "JSInvalidInputError",
    "JSOOMError",
    "JSSyntaxError",
    "JSTerminatedError",
    "JSTimeoutError",
    "JSUndefinedType",
    "Snapshot",
    "Undefined",
    "icu_memory_counted",
    "prestart_context",
    "prestart_worker",
    "set_flags",
    "set_spare_contexts",
    "v8_version",
    # values kept in their context (both APIs)
    "CancelableJSFunction",
    "JSArray",
    "JSFunction",
    "JSMap",
    "JSMappedObject",
    "JSObject",
    "JSPromise",
    "JSSet",
    "JSSymbol",
    # mini-racer (py_mini_racer) compatibility
    "DEFAULT_V8_FLAGS",
    "JSArrayIndexError",
    "JSConversionException",
    "JSEvalException",
    "JSKeyError",
    "JSOOMException",
    "JSParseException",
    "JSPromiseError",
    "JSTerminatedException",
    "JSTimeoutException",
    "JSUndefined",
    "JSValueError",
    "LibAlreadyInitializedError",
    "LibNotFoundError",
    "MiniRacer",
    "MiniRacerBaseException",
    "PyJsFunctionType",
    "PythonJSConvertedTypes",
    "StrictMiniRacer",
    "WrongReturnTypeException",
    "init_mini_racer",
    "mini_racer",
]


def _watch_ctrl_c() -> None:
    """Lets Ctrl-C stop JavaScript running on the main thread.

    Python's SIGINT handler cannot run while the main thread is inside V8,
    so v8cage registers a pipe with ``signal.set_wakeup_fd`` and a native
    thread stops the running evaluation when SIGINT arrives; Python then
    raises KeyboardInterrupt. Skipped when another wakeup fd is already set
    (e.g. by an asyncio loop), off the main thread, or where signals are
    unavailable.
    """
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    read_fd, write_fd = os.pipe()
    try:
        os.set_blocking(write_fd, False)
        os.set_blocking(read_fd, False)
        previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except (ValueError, OSError):
        os.close(read_fd)
        os.close(write_fd)
        return
    if previous != -1:
        signal.set_wakeup_fd(previous)
        os.close(read_fd)
        os.close(write_fd)
        return
    from ._v8cage import _watch_interrupts

    _watch_interrupts(read_fd)


_watch_ctrl_c()
