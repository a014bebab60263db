"""``minimize``'s ``bounds``, as scipy takes them, turned into the session's box."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import F32_MAX
from ..constraints import Box, FeasibleSet
from ..exceptions import InvalidArgument


def box_of(bounds, dim: int) -> FeasibleSet:
    """The box of ``minimize``'s ``bounds``: (lo, hi), d (lo, hi) pairs, or a
    ``scipy.optimize.Bounds``; None, -inf (lower) and +inf (upper) mean no bound, as in scipy.

    Raises:
        zoadamm.InvalidArgument: not one of those shapes, or any check of ``Box``.
    """
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds: a number is kept as 1 value
        bounds = tuple(side[0] if np.ndim(side) == 1 and len(side) == 1 else side
                       for side in (bounds.lb, bounds.ub))
    if isinstance(bounds, (str, bytes, dict)) or not isinstance(bounds, (tuple, list, np.ndarray)):
        raise InvalidArgument(f"bounds must be (lo, hi), {dim} (lo, hi) pairs or scipy's Bounds, "
                              f"got {type(bounds).__name__}")
    pairs = len(bounds) > 0 and all(_is_pair(p) for p in bounds)
    if pairs and (len(bounds) == dim or len(bounds) != 2):
        if len(bounds) != dim:
            raise InvalidArgument(f"bounds has {len(bounds)} (lo, hi) pairs, x0 has {dim} values")
        lower: Any = [lo for lo, _ in bounds]
        upper: Any = [hi for _, hi in bounds]
    elif len(bounds) == 2:
        if pairs:  # two pairs, where x0 has another length than two
            raise InvalidArgument(f"bounds holds two (lo, hi) pairs, or (lo, hi) of two values each; x0 has {dim}")
        lower, upper = bounds
        for side, value in (("lo", lower), ("hi", upper)):
            if np.ndim(value) == 1 and len(value) != dim:
                raise InvalidArgument(f"bounds' {side} has {len(value)} values, x0 has {dim}")
    else:
        raise InvalidArgument(f"bounds must be (lo, hi) or {dim} (lo, hi) pairs, got {len(bounds)} items")
    box = FeasibleSet(box=Box(_unbounded(lower, -1), _unbounded(upper, 1)))
    box.check_dim(dim)
    return box


def _is_pair(item) -> bool:
    return isinstance(item, (tuple, list, np.ndarray)) and len(item) == 2


def _unbounded(side, sign: int):
    """A side of scipy's bounds with None, and inf of that side's sign, as float32's end; other
    values as given (``Box`` checks them)."""
    def one(value):
        if value is None or (isinstance(value, (float, np.floating)) and value == sign * np.inf):
            return sign * F32_MAX
        return value
    return [one(v) for v in side] if isinstance(side, (list, tuple, np.ndarray)) else one(side)
