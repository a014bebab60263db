"""The checks and messages of ``constraints``: where two bounds cross, which fields a part of a
set takes, where x lies outside it, how far from 0 it reaches, and the float32 form its numbers
are held in."""

from __future__ import annotations

import math

import numpy as np

from . import projection, wire
from ._validate import F32_MAX, InvalidArgument, shown, some

F32_TINIEST = float(np.finfo(np.float32).smallest_subnormal)  # the least eps a session takes


def where(mask: np.ndarray, lower, upper) -> str:
    """Where two bounds cross, for a message: " at index i (lower_i > upper_i)"."""
    index = int(np.argmax(mask)) if mask.ndim else None
    low, high = (float(np.asarray(b, np.float64).reshape(-1)[index or 0] if np.ndim(b) else b) for b in (lower, upper))
    return f"{'' if index is None else f' at index {index}'} ({low!r} > {high!r})"


def same_length(name: str, value, other_name: str, other) -> None:
    """Raises InvalidArgument where two vectors of one set differ in length."""
    if np.ndim(value) and np.ndim(other) and np.size(value) != np.size(other):
        raise InvalidArgument(f"{name} has {np.size(value)} values, {other_name} has {np.size(other)}")


def overlap(center, radius: float, lower, upper, dim: int) -> None:
    """Raises InvalidArgument where a box and an l2 ball have no point in common; ``dim``: how
    many times over the distance counts, each coordinate being as far (the sides and center are
    numbers, the session has dim coordinates)."""
    gap = math.sqrt(projection.squared_distance(np.clip(center, lower, upper), center) * dim)
    if not gap < radius:
        numbers = not any(np.ndim(v) for v in (center, lower, upper))  # then each coordinate is as far
        where = f" in {dim} dimensions" if dim > 1 else " in each coordinate" if numbers else ""
        shown = [f"{v:.6g}" for v in (gap, radius)]
        if shown[0] == shown[1]:  # close enough that 6 digits cannot show why: all of them
            shown = [repr(float(v)) for v in (gap, radius)]
        raise InvalidArgument(f"constraint.box and constraint.ball do not overlap: the ball's center lies "
                              f"{shown[0]} from the box{where}, its radius is {shown[1]}")


def point_and_weights(a, weights, out, ball: bool) -> None:
    """Raises InvalidArgument unless ``a`` is a float32 or float64 vector without NaN (and within
    float32's range where the set has an l2 ball: an infinite coordinate has no nearest point on
    its sphere to aim at), and ``weights`` and ``out``, where given, float vectors of its shape,
    the weights positive and within float32's range (``positive_weights``)."""
    def vector(name: str, value) -> None:
        if not (isinstance(value, np.ndarray) and value.dtype in (np.float32, np.float64) and value.ndim == 1):
            got = f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else shown(value)
            raise InvalidArgument(f"{name} must be a float32 or float64 vector (1-D numpy array), got {got}")
        if value is not a and value.shape != a.shape:
            raise InvalidArgument(f"{name} has {value.size} values, the point has {a.size}")

    for name, value in (("the point", a), ("weights", weights), ("out", out)):
        if value is not None:
            vector(name, value)
    if np.isnan(a).any():  # no set has a nearest point to it, and a NaN passes every comparison
        raise InvalidArgument(f"the point has a NaN at index {int(np.argmax(np.isnan(a)))}")
    if ball and np.isinf(a).any():
        raise InvalidArgument(f"the point has an infinite value at index {int(np.argmax(np.isinf(a)))}: "
                              f"its projection onto an l2 ball is not defined")
    if ball and (beyond := np.abs(a) > F32_MAX).any():  # ||a - c||^2 would overflow float64's sums
        raise InvalidArgument(f"the point has a value beyond float32's range ({F32_MAX:.8g}) at index "
                              f"{int(np.argmax(beyond))}: an l2 ball projects points within it, as sessions hold them")
    positive_weights(weights)


def positive_weights(weights) -> None:
    """Raises InvalidArgument naming the first weight that is not a positive number within
    float32's range (None: none).  A step's weights, sqrt(v_hat) + eps in float32, always are; far
    smaller or larger float64 weights would underflow or overflow the l2 ball's sums."""
    if weights is None:
        return
    weights = np.asarray(weights)
    good = (weights >= F32_TINIEST) & (weights <= F32_MAX)  # False for NaN too
    if not np.all(good):
        bad = np.flatnonzero(~good)
        raise InvalidArgument(f"weights must be finite positive numbers within float32's range ({F32_TINIEST:.2g} to "
                              f"{F32_MAX:.8g}): {bad.size:,} of them are not, the first at index {bad[0]} "
                              f"({float(np.ravel(weights)[bad[0]])!r})")


def object_fields(name: str, given, names: tuple[str, ...]) -> None:
    """Raises InvalidArgument unless ``given`` is a dict whose keys are among ``names``."""
    if not isinstance(given, dict):
        raise InvalidArgument(f"{name} must be an object, got {shown(given)}")
    unknown = [field for field in given if field not in names]
    if unknown:
        raise InvalidArgument(f"{name} has unknown fields {some(unknown)}; it takes {', '.join(names)}")


def part_fields(part: str, names: tuple[str, ...], given, vectors: dict) -> dict:
    """The fields of ``part`` ("box" or "ball"), each from the JSON or from ``vectors``."""
    object_fields(f"constraint.{part}", given, names)
    fields = {}
    for name in names:
        inline, vector = given.get(name), vectors.pop(f"{part}.{name}", None)
        if inline is not None and vector is not None:
            raise InvalidArgument(f"constraint.{part}.{name} is given twice (inline and as a vector)")
        if inline is None and name in given:  # null, even beside its vector: a bound of JSON's NaN?
            why = 'null; it must be "2" or "inf" (a string)' if name == "norm" else wire.NULL_NUMBER
            raise InvalidArgument(f"constraint.{part}.{name} is {why}")
        if inline is None and vector is None:
            raise InvalidArgument(f"constraint.{part}.{name} is missing")
        fields[name] = inline if vector is None else vector
    return fields


def held(value):
    """A float32 scalar (numpy's fast path for clipping) or a read-only float32 vector."""
    array = np.asarray(value, dtype=np.float32)  # a float32 vector as it is
    if array.ndim == 0:
        return np.float32(array)
    if array.flags.writeable:
        array.setflags(write=False)
    return array


def outside(x: np.ndarray, lower, upper, name: str, what: str) -> list[str]:
    problems = []
    for side, excess in (("below", np.asarray(lower, np.float64) - x), ("above", x - np.asarray(upper, np.float64))):
        excess = np.broadcast_to(excess, x.shape)
        count = int(np.count_nonzero(excess > 0))
        if count:
            worst = int(np.argmax(excess))
            problems.append(f"{name} lies {side} {what} at {count} coordinate{'s' * (count > 1)} "
                            f"(by up to {excess[worst]:.3g}, at index {worst})")
    return problems


def reach(ball) -> float:
    """How far from 0 a point of ``ball`` lies at most: in each coordinate (l-inf) or in the l2
    norm (l2, whose center counts as given: a scalar once)."""
    center = np.asarray(ball.center, np.float64)
    size = np.linalg.norm(center) if ball.norm == "2" else np.max(np.abs(center))
    return float(size) + ball.radius


def steps(size) -> np.ndarray:
    """Two float32 steps of ``size`` at most: 2^-22 of it (never inf, as spacing(float32 max) is)."""
    return np.maximum(np.asarray(size, np.float64) * 2.0**-22, 2.8e-45)


def faces_forgiven(feasible, x: np.ndarray) -> np.ndarray:
    """``x`` in float64, each coordinate outside a box's or an l-inf ball's face by no more than
    ``within_rounding`` forgives put on that face: a refusal then names only what lies further
    out (0 on the face of the cube of radius 0.1 about 0.1 is not "below it by 1.5e-9")."""
    x64 = x.astype(np.float64)
    faces = []
    if feasible.box is not None:
        faces.append((feasible.box.lower, feasible.box.upper, steps(np.abs(x64))))
    if feasible.ball is not None and feasible.ball.norm == "inf":
        faces.append((*feasible.ball.as_box(), steps(np.abs(np.asarray(feasible.ball.center, np.float64))
                                                      + feasible.ball.radius)))
    for lower, upper, slack in faces:
        lower, upper = (np.broadcast_to(np.asarray(b, np.float64), x64.shape) for b in (lower, upper))
        x64 = np.where((x64 < lower) & (x64 >= lower - slack), lower, x64)
        x64 = np.where((x64 > upper) & (x64 <= upper + slack), upper, x64)
    return x64


def within_rounding(feasible, x: np.ndarray) -> bool:
    """Whether float32 ``x``, outside ``feasible``, is outside each of its parts by no more than
    float32's rounding of a point given on its boundary can put it: two float32 steps of the size
    that was rounded.  A box's bound is about x's own size; an l-inf
    ball's face comes from its center and radius (|c_i| + r: 0 on the face of the cube of radius
    0.1 about 0.1 lies 1.5e-9 outside it once 0.1 is a float32); an l2 ball's sphere is within
    it when some point that x and c may have been before each coordinate's rounding lies in the
    ball (a center of 1e6 in one coordinate rounds by 0.03; another coordinate of 2.5 by 1e-7).
    An infinite coordinate is never within it."""
    x64 = x.astype(np.float64)
    if not np.all(np.isfinite(x64)):
        return False

    if feasible.box is not None:  # the box as given, widened by its slack at x
        slack = steps(np.abs(x64))
        box_lower, box_upper = (np.asarray(feasible.box.lower, np.float64) - slack,
                                np.asarray(feasible.box.upper, np.float64) + slack)
        if np.any((x64 < box_lower) | (x64 > box_upper)):
            return False
    ball = feasible.ball
    if ball is not None and ball.norm == "inf":
        center = np.asarray(ball.center, np.float64)
        if np.any(np.abs(x64 - center) - ball.radius > steps(np.abs(center) + ball.radius)):
            return False
    if feasible.sphere is not None:
        center, radius = (np.asarray(v, np.float64) for v in feasible.sphere)
        # where x may have been: each x_j and c_j rounds by up to 2^-24 of it (twice that here), and
        # within the box, with its own slack; the point of that nearest the center must be in the ball
        reach = 2.0**-23 * (np.abs(x64) + np.abs(center))
        lower, upper = x64 - reach, x64 + reach
        if feasible.box is not None:
            lower, upper = np.maximum(lower, box_lower), np.minimum(upper, box_upper)
        if float(np.sqrt(np.sum((np.clip(center, lower, upper) - center) ** 2))) > radius:
            return False
    return True
