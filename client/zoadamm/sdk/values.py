"""What the objective returns, checked: one finite number, or an error that says what f
returned and, at a probe outside the feasible set, what keeps the probes inside; and what
``minimize``'s callback takes and returns."""

from __future__ import annotations

import inspect

import numpy as np

from .._validate import InvalidArgument
from ..constraints import FeasibleSet
from ..exceptions import ObjectiveError

# float() would take a str of digits, a bool as 0 or 1, and a NumPy complex without its imaginary part
_NO_REAL_NUMBER = (str, bytes, bool, np.bool_, complex, np.complexfloating)


def value_of(f, x) -> float:
    """f(x) as a float: a real number, or an array of one (a str, a bool, a complex number, or an
    array of several values, is a mistake in f that float() would hide or report without saying
    where)."""
    returned = f(x)
    try:
        if isinstance(returned, _NO_REAL_NUMBER):
            raise TypeError
        if isinstance(returned, np.ndarray):
            if returned.dtype.kind not in "iuf":  # text (parsed), booleans, complex numbers, objects, dates
                raise TypeError
            value = float(returned.reshape(()))
        else:  # a number, or a tensor of one value (torch, ...: their float() takes it, booleans too)
            if any(word in str(getattr(returned, "dtype", "")) for word in ("bool", "complex")):
                raise TypeError
            value = float(returned)
    except (TypeError, ValueError, RuntimeError):
        raise ObjectiveError(f"the objective must return one number; it returned {_kind(returned)}") from None
    except OverflowError:  # a Python int past float64
        raise NotFinite(f"the objective returned {_kind(returned)} beyond float64's range; the service's methods "
                        "need finite values") from None
    if not np.isfinite(value):
        raise NotFinite(f"the objective returned {value}; the service's methods need finite values")
    return value


class NotFinite(ObjectiveError):
    """f returned inf, NaN or a number beyond float64: after finite values, the run diverged."""


def probe_value(f, probe, constraint: FeasibleSet | None) -> float:
    """f at a probe x +- mu u, which may lie outside the set near its boundary: a value f has no
    answer for there says so, and what keeps the probes inside."""
    try:
        return value_of(f, probe)
    except ObjectiveError as error:
        if constraint is None or constraint.violation(probe) is None:
            raise
        raise ObjectiveError(f"{error}, at a probe x + mu u outside the constraint: f must be defined within mu of "
                         "the set, or pass constraint=FeasibleSet(...).shrunk(mu) (for bounds, the box they make) "
                         "so that every probe stays in the set (docs/constraints.md)") from None


def _kind(value) -> str:
    if isinstance(value, (str, bytes)):
        return f"the string {value[:40]!r}"
    if isinstance(value, np.ndarray):
        name = f"{value.dtype} array" if value.dtype.kind not in "iuf" else "array"
    else:
        name = type(value).__name__
    kind = ("an " if name[0] in "aeiou" else "a ") + name
    shape = getattr(value, "shape", None)
    if isinstance(value, np.generic):  # a NumPy number: its shape () says nothing
        return f"{kind} ({value!r})"
    if shape is not None:
        return f"{kind} of shape {tuple(shape)}"
    try:
        return f"{kind} of {len(value)} items"
    except TypeError:
        return kind


def check_callback(callback) -> None:
    """Refuse a callback that is not called as ``callback(step, x, f_x)`` before the first step
    (scipy's ``callback(xk)`` failed after it, a TypeError from inside the run)."""
    if not callable(callback):
        raise InvalidArgument(f"callback must be callable (step, x, f_x), got {type(callback).__name__}")
    try:
        # the callable itself, not what functools.wraps says it wraps (an adapter of callback(xk))
        inspect.signature(callback, follow_wrapped=False).bind(0, np.zeros(1, np.float32), 0.0)
    except ValueError:  # a callable without a signature (some builtins): called as it is
        return
    except TypeError:
        raise InvalidArgument("callback is called as callback(step, x, f_x); for scipy's callback(xk) give "
                              "lambda step, x, f_x: your_callback(x)") from None


def stops(said) -> bool:
    """Whether a callback's answer ends the run: True (np.True_ or a 1-element array too) does,
    as for scipy; None and False do not."""
    if isinstance(said, np.ndarray):
        if said.size != 1:
            raise InvalidArgument(f"callback returned an array of {said.size} values: return True to stop the "
                                  "run, or None (or False) to go on")
        said = said.item()
    return said is not None and bool(said)
