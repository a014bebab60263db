"""``minimize``'s ``bounds``, as scipy takes them, turned into the session's box."""

from __future__ import annotations

import numpy as np

from .._validate import F32_MAX, numbers, shown
from ..constraints import Ball, Box, FeasibleSet
from ..exceptions import InvalidArgument


def box_of(bounds, x0) -> FeasibleSet | None:
    """The box of ``minimize``'s ``bounds`` for the start ``x0``: (lo, hi), d (lo, hi) pairs, or a
    ``scipy.optimize.Bounds``; None, -inf (lower) and +inf (upper) mean no bound, as in scipy,
    and bounds that bound no coordinate are no set (None), as if left out.

    Raises:
        zoadamm.InvalidArgument: not one of those shapes, any check of ``Box``, or at d = 2 a
            2 x 2 ``bounds`` read as pairs (scipy's reading) that leaves out an x0 the other
            reading holds: the message says how to give a lower and an upper vector.
    """
    dim = np.size(x0)
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds: lower and upper, never pairs
        lower, upper = (side[0] if np.ndim(side) == 1 and len(side) == 1 else side for side in (bounds.lb, bounds.ub))
        _check_sides(lower, upper, dim)
        return _box(lower, upper, dim)
    if isinstance(bounds, (str, bytes, dict)) or not isinstance(bounds, (tuple, list, np.ndarray)):
        a_set = isinstance(bounds, (Ball, Box, FeasibleSet))
        other = "; a Box, Ball or FeasibleSet goes in constraint=" if a_set else ""
        raise InvalidArgument(f"bounds must be (lo, hi), {dim} (lo, hi) pairs or scipy's Bounds, "
                              f"got {type(bounds).__name__}{other}")
    # numbers in an array are read whole, not row by row
    array = bounds if isinstance(bounds, np.ndarray) and bounds.dtype.kind in "iuf" else None
    pairs = (array.ndim == 2 and array.shape[1] == 2 if array is not None
             else len(bounds) > 0 and all(_is_pair(p) for p in bounds))
    if pairs and (len(bounds) == dim or len(bounds) != 2):
        if len(bounds) != dim:
            raise InvalidArgument(f"bounds has {len(bounds)} (lo, hi) pairs, x0 has {dim} values")
        try:
            box = (_box(array[:, 0], array[:, 1], dim) if array is not None
                   else _box([lo for lo, _ in bounds], [hi for _, hi in bounds], dim))
        except InvalidArgument as refused:
            if dim == 2:
                _refuse_the_other_reading(None, bounds, x0, str(refused))
            raise
        if dim == 2 and box is not None:  # bounds of no coordinate hold every x0
            _refuse_the_other_reading(box, bounds, x0, "x0 lies outside them")
        return box
    if len(bounds) == 2:
        if pairs:  # two pairs, where x0 has another length than two
            raise InvalidArgument(f"bounds holds two (lo, hi) pairs, or (lo, hi) of two values each; x0 has {dim}")
        lower, upper = bounds
        _check_sides(lower, upper, dim)
        return _box(lower, upper, dim)
    odd = next((i for i, item in enumerate(bounds) if not _is_pair(item)), -1)
    listed = odd >= 0 and len(bounds) == dim and any(map(_is_pair, bounds))  # pairs, but for one
    which = f" (item {odd} is {shown(bounds[odd])}, not a (lo, hi) pair)" if listed else ""
    raise InvalidArgument(f"bounds must be (lo, hi) or {dim} (lo, hi) pairs, got {len(bounds)} items{which}")


def _check_sides(lower, upper, dim: int) -> None:
    for side, value in (("lo", lower), ("hi", upper)):
        if np.ndim(value) == 1 and len(value) != dim:
            raise InvalidArgument(f"bounds' {side} has {len(value)} values, x0 has {dim}")


def _box(lower, upper, dim: int) -> FeasibleSet | None:
    box = Box(unbounded(lower, -1), unbounded(upper, 1))
    feasible = FeasibleSet(box=box)
    feasible.check_dim(dim)
    return None if bounds_nothing(box) else feasible


def bounds_nothing(box: Box) -> bool:
    """Whether ``box`` holds every float32 point: -inf to inf on every side, R^d, no set at all."""
    return bool(np.all(np.asarray(box.lower) <= -F32_MAX) and np.all(np.asarray(box.upper) >= F32_MAX))


def _refuse_the_other_reading(box: FeasibleSet | None, bounds, x0, why: str) -> None:
    """At d = 2 a 2 x 2 ``bounds`` is two (lo, hi) pairs, as scipy reads it; when that reading is
    no box (``box`` None: refused) or leaves x0 out, but (lo, hi) read as a lower and an upper vector
    holds x0, the caller meant the latter.  ``why``: what is wrong with the pairs' reading."""
    start = numbers("x0", x0, np.float32).reshape(-1)
    if box is not None and box.violation(start) is None:
        return
    try:
        other = _box(bounds[0], bounds[1], 2)
    except InvalidArgument:
        return
    if other is None or other.violation(start) is None:  # None: bounds of no coordinate, which hold x0
        raise InvalidArgument(
            f"bounds of two (lo, hi) pairs at d = 2 are one pair per coordinate, as scipy reads them; read that "
            f"way: {why}. Read as a lower and an upper vector they hold x0: for that reading, pass "
            "scipy.optimize.Bounds(lo, hi), or constraint=FeasibleSet(box=Box(lo, hi))")


def _is_pair(item) -> bool:
    return isinstance(item, (tuple, list, np.ndarray)) and np.ndim(item) > 0 and len(item) == 2


def unbounded(side, sign: int):
    """A side of scipy's bounds with None, and inf of that side's sign, as float32's end; other
    values as given (``Box`` checks them)."""
    def one(value):
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "f":
            value = value[()]  # a 0-d array reads as its number (np.float64 then)
        if value is None or (isinstance(value, (float, np.floating)) and value == sign * np.inf):
            return sign * F32_MAX
        return value
    if isinstance(side, np.ndarray) and side.ndim > 0 and side.dtype.kind in "iuf":  # at once, not one by one
        # in float64: float32's end does not fit a float16 array
        return np.where(side == sign * np.inf, sign * F32_MAX, side.astype(np.float64)) if side.dtype.kind == "f" \
            else side
    return [one(v) for v in side] if isinstance(side, (list, tuple)) or np.ndim(side) > 0 else one(side)
