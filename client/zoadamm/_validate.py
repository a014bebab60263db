"""Argument checks shared by the optimizer math; each raises ``InvalidArgument``."""

from __future__ import annotations

import math
from numbers import Number

import numpy as np

from .exceptions import InvalidArgument

F32_MAX = float(np.finfo(np.float32).max)


def some(names, most: int = 5) -> str:
    """A few of ``names`` for a message, each cut short, and how many more: a request with
    thousands of unknown names gets a short answer."""
    names = list(names)
    listed = ", ".join(repr(str(name)[:40]) for name in names[:most])
    return listed + (f" and {len(names) - most:,} more" if len(names) > most else "")


def shown(value) -> str:
    """``value`` as an error message quotes it: briefly (a 400-digit integer is not echoed back),
    and a boolean as the JSON a service client sent (``true``) as well as Python's ``True``."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int) and abs(value) >= 10**20:  # its digits without str(): Python caps that at 4,300
        return f"an integer of about {int(abs(value).bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgument(f"{name} must be an integer >= 1, got {shown(value)}")
    return int(value)


def unsigned64(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**64:
        raise InvalidArgument(f"{name} must be an integer in [0, 2**64), got {shown(value)}")
    return int(value)


def positive_float(name: str, value: float) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a number, got {shown(value)}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgument(f"{name} must be finite and > 0, got {shown(value)}")
    return float(value)


def nonnegative_float(name: str, value: float) -> float:
    if not _is_number(value):  # a numpy scalar is one, a bool is not
        raise InvalidArgument(f"{name} must be a number, got {shown(value)}")
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument(f"{name} must be finite and >= 0, got {shown(value)}")
    return float(value)


def unit_interval(name: str, value: float) -> float:
    """A decay rate in [0, 1)."""
    if not isinstance(value, (int, float, np.floating)) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a number, got {shown(value)}")
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise InvalidArgument(f"{name} must be in [0, 1), got {shown(value)}")
    return float(value)


def numbers(name: str, values, dtype=np.float64) -> np.ndarray:
    """``values`` as an array of ``dtype``; InvalidArgument naming ``name`` for what holds no
    number numpy reads (a string) or one past float64 (an int of 400 digits), and for what the
    API refuses as no number where numpy would take it: text (parsed), booleans (read as 0 and
    1), None (NaN), complex numbers (their real part).  A boolean among numbers in a list reads
    as the number numpy makes of it: telling it apart would cost a look at every item."""
    if type(values) is float or (type(values) is np.ndarray and values.dtype.kind in "iuf"):  # a tell's values
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=dtype)
    given = values
    if isinstance(values, (str, bytes, bytearray, bool, type(None))) or (
            isinstance(values, memoryview) and values.format in ("B", "b", "c")):  # bytes, not an array's view
        raise InvalidArgument(f"{name} must be a number or numbers, got {shown(given)}{_NO_NUMBERS}")
    try:
        with np.errstate(over="ignore"):  # past float32 becomes inf, which the callers' checks refuse by name
            if not isinstance(values, (float, int, np.ndarray, np.generic)):  # the tell's arrays skip this
                if callable(getattr(values, "detach", None)):
                    values = values.detach()  # a tensor that requires grad (a loss): its numbers, without the graph
                values = np.asarray(values)  # numpy's own reading of a list or a tensor, once, to look at
            kind = values.dtype.kind if isinstance(values, (np.ndarray, np.generic)) else "f"
            if kind in "iuf" or (kind == "O" and all(isinstance(v, Number) and not isinstance(v, _NOT_REAL)
                                                      for v in np.ravel(values))):
                return np.asarray(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError, RuntimeError):
        raise InvalidArgument(f"{name} must be a number or numbers, got {shown(given)}") from None
    if isinstance(given, (np.ndarray, np.generic)):
        raise InvalidArgument(f"{name} must be real numbers, got an array of {given.dtype}{_NO_NUMBERS}")
    raise InvalidArgument(f"{name} must be a number or numbers, got {shown(given)}{_NO_NUMBERS}")


_NOT_REAL = (bool, np.bool_, complex, np.complexfloating)
# what numpy would read as numbers, and the API refuses
_NO_NUMBERS = ": text, booleans, None, complex numbers and dates are no numbers here"


def finite_values(name: str, values: np.ndarray) -> np.ndarray:
    if not np.isfinite(values).all():  # the method: no dispatch layer, on the per-step path
        raise InvalidArgument(f"{name} contains NaN or infinite values")
    return values


def one_axis(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` flat: a (q,), (q, 1) or (1, q) array of a batch's values, not a table of them,
    which flattened would pass for q values in another order."""
    if values.ndim > 1 and sum(n > 1 for n in values.shape) > 1:  # the per-step path: one test when flat
        raise InvalidArgument(f"{name} must be a flat list of values, one per direction; got shape {values.shape}")
    return values.reshape(-1)


def one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidArgument(f"{name} must be one of {', '.join(allowed)}; got {shown(value)}")
    return value


def float32_values(name: str, value, rounding: str):
    """A number or list of numbers as float32: a float (for a number) or a read-only float32
    vector, rounded "up", "down" or to "nearest".

    Raises:
        InvalidArgument: not a number or a non-empty flat list of numbers, not finite, or
            beyond float32's range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating, list, tuple, np.ndarray)):
        raise InvalidArgument(f"{name} must be a number or a list of numbers, got {shown(value)}")
    if isinstance(value, np.ndarray) and value.dtype.kind not in "iufO":
        # numpy would parse text, read booleans as 0 and 1 and drop an imaginary part
        raise InvalidArgument(f"{name} must be real numbers, got an array of {value.dtype}")
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        value = value.tolist()  # its items are checked as a list's; a 0-d one's item as a number
        if not isinstance(value, list) and not _is_number(value):
            raise InvalidArgument(f"{name} must be a number or a list of numbers, got {shown(value)}")
    if isinstance(value, (list, tuple)) and not all(_is_number(v) for v in value):
        # numpy would read "0" and true as numbers: JSON's strings and booleans are not
        raise InvalidArgument(f"{name} must be a number or a flat list of numbers (no strings, booleans or lists)")
    beyond = f"{name} is beyond float32's range (it rounds to infinity; float32's largest is {F32_MAX!r})"
    try:
        given = np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float64, as JSON may carry
        raise InvalidArgument(beyond) from None
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be a number or a list of numbers") from None
    if given.ndim > 1 or given.size == 0:
        raise InvalidArgument(f"{name} must be a number or a non-empty list of numbers")
    if not np.all(np.isfinite(given)):  # JSON's 1e400 arrives as inf: say so
        raise InvalidArgument(f"{name} contains NaN or infinite values (a JSON number beyond float64's range, "
                              "as 1e400, reads as infinite)")
    with np.errstate(over="ignore"):  # what rounds to float32's largest (3.4028235e38, as numpy prints it) is in
        held = given.astype(np.float32)
        if not np.all(np.isfinite(held)):
            raise InvalidArgument(beyond)
        if rounding != "nearest":  # step back to the float32 on the inner side of the given value
            off = held > given if rounding == "down" else held < given
            np.nextafter(held, np.float32(-np.inf if rounding == "down" else np.inf), out=held, where=off)
    if not np.all(np.isfinite(held)):  # a lower side above float32's largest, an upper below its least
        raise InvalidArgument(beyond)
    if held.ndim == 0:
        return float(held)
    held.setflags(write=False)
    return held


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def one_d(x0, dim: int | None = None) -> np.ndarray:
    """x0 as a float32 vector; a matrix is refused rather than flattened in some order."""
    x0 = numbers("x0", x0, np.float32)
    if x0.ndim != 1:
        raise InvalidArgument(f"x0 must be a 1-D vector, got shape {x0.shape}; flatten it yourself "
                              "(x0.ravel()) and reshape x the same way")
    if dim is not None and dim != x0.size:
        raise InvalidArgument(f"dim={dim!r} disagrees with x0, which has {x0.size} values (dim is x0's length)")
    return x0
