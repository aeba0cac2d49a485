"""v8cage: run untrusted or heavy JavaScript from Python in a hardened V8.

``Context`` is one isolate with its own globals and limits; ``eval`` and
``call`` convert results to Python data (see the README for the mapping).
``MiniRacer`` offers mini-racer's synchronous API on the same core.
"""

from ._errors import (
    JSConversionError,
    JSError,
    JSEvalError,
    JSInvalidInputError,
    JSOOMError,
    JSSyntaxError,
    JSTerminatedError,
    JSTimeoutError,
)
from ._mini_racer import (
    JSConversionException,
    JSEvalException,
    JSKeyError,
    JSOOMException,
    JSParseException,
    JSTerminatedException,
    JSTimeoutException,
    JSUndefined,
    JSValueError,
    MiniRacer,
    MiniRacerBaseException,
)
from ._v8cage import Context, JSFunction, JSUndefinedType, Undefined, v8_version

__all__ = [
    # v8cage's own API
    "Context",
    "JSConversionError",
    "JSError",
    "JSEvalError",
    "JSFunction",
    "JSInvalidInputError",
    "JSOOMError",
    "JSSyntaxError",
    "JSTerminatedError",
    "JSTimeoutError",
    "JSUndefinedType",
    "Undefined",
    "v8_version",
    # mini-racer (py_mini_racer) compatibility
    "JSConversionException",
    "JSEvalException",
    "JSKeyError",
    "JSOOMException",
    "JSParseException",
    "JSTerminatedException",
    "JSTimeoutException",
    "JSUndefined",
    "JSValueError",
    "MiniRacer",
    "MiniRacerBaseException",
]
