"""A session's feasible set X: a box, a ball (l2 or l-inf), both (their intersection), or None
for R^d.  Its numbers are held as float32, like x: box bounds round inward (so every float32 x in
the held box lies in the box as given), centers to the nearest float32; the radius stays a float.

The JSON shape (``docs/constraints.md``), lo, hi and c numbers or d-vectors::

    {"box": {"lower": lo, "upper": hi}, "ball": {"norm": "2" | "inf", "center": c, "radius": r}}

``to_dict`` keeps the numbers and leaves the vectors out; ``vectors`` returns them by dotted name
("box.lower", ...), as a frame carries them beside its header; ``from_dict`` reads either place.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from . import _constraint_checks as checks
from . import projection
from ._constraint_checks import held, object_fields, outside, part_fields, reach, same_length, where
from ._validate import F32_MAX, InvalidArgument, float32_values, nonnegative_float, shown, some

NORMS = ("2", "inf")
VECTOR_FIELDS = ("box.lower", "box.upper", "ball.center")  # the fields that may be d-vectors
_FIELDS = {"box": ("lower", "upper"), "ball": ("norm", "center", "radius")}


@dataclass(frozen=True, eq=False)
class Box:
    """lower <= x <= upper, coordinate-wise.

    Raises:
        InvalidArgument: a bound that is not a number or a non-empty list, not finite, beyond
            float32, or lower > upper (also once both are rounded inward to float32).
    """

    lower: float | np.ndarray
    upper: float | np.ndarray

    def __post_init__(self) -> None:
        lower = float32_values("constraint.box.lower", self.lower, "up")
        upper = float32_values("constraint.box.upper", self.upper, "down")
        same_length("constraint.box.upper", upper, "constraint.box.lower", lower)
        crossed = np.asarray(self.lower, dtype=np.float64) > np.asarray(self.upper, dtype=np.float64)
        if np.any(crossed):
            raise InvalidArgument("constraint.box.lower > constraint.box.upper"
                                  + where(crossed, self.lower, self.upper))
        crossed = np.asarray(lower) > np.asarray(upper)
        if np.any(crossed):  # the bounds round inward: name them as rounded, which is what crossed
            given = float(np.broadcast_to(np.asarray(self.lower, np.float64), crossed.shape).flat[np.argmax(crossed)])
            raise InvalidArgument("no float32 value lies within constraint.box: its bounds round inward to float32"
                                  + where(crossed, lower, upper) + "; to pin a coordinate, give both bounds a value "
                                  f"float32 holds (the nearest to {given!r} is {float(np.float32(given))!r})")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)


@dataclass(frozen=True, eq=False)
class Ball:
    """||x - center|| <= radius in the l2 (``norm="2"``) or l-inf (``norm="inf"``) norm.

    Raises:
        InvalidArgument: an unknown norm, a center that is not a finite number or list, a radius
            that is not finite and > 0 (or beyond float32).
    """

    norm: str
    center: float | np.ndarray
    radius: float

    def __post_init__(self) -> None:
        if not (isinstance(self.norm, str) and self.norm in NORMS):  # 2 is not "2"; an array compares per item
            raise InvalidArgument(f'constraint.ball.norm must be "2" or "inf" (a string), got {shown(self.norm)}')
        radius = self.radius
        if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)):
            raise InvalidArgument(f"constraint.ball.radius must be a number, got {shown(radius)}")
        # an integer is finite however large (math.isfinite would overflow past float64)
        if not (radius > 0 and (isinstance(radius, (int, np.integer)) or math.isfinite(radius))):
            raise InvalidArgument(f"constraint.ball.radius must be finite and > 0, got {shown(radius)}")
        if radius > F32_MAX:
            raise InvalidArgument(
                f"constraint.ball.radius is beyond float32's range (<= {F32_MAX!r}), got {shown(radius)}")
        object.__setattr__(self, "center", float32_values("constraint.ball.center", self.center, "nearest"))
        object.__setattr__(self, "radius", float(radius))

    def as_box(self) -> tuple[Any, Any]:
        """The l-inf ball as the float32 box inside it: center -+ radius, rounded inward."""
        center = np.asarray(self.center, dtype=np.float64)
        lower, upper = (np.clip(center + side * self.radius, -F32_MAX, F32_MAX) for side in (-1.0, 1.0))
        return float32_values("constraint.ball", lower, "up"), float32_values("constraint.ball", upper, "down")


@dataclass(frozen=True, eq=False)
class FeasibleSet:
    """X = box, ball, or box ∩ ball.  ``project`` is the exact projection onto it under a
    diagonal metric (``zoadamm.projection``).

    Raises:
        InvalidArgument: neither a box nor a ball, vectors of different lengths, or a box and a
            ball that do not overlap.
    """

    box: Box | None = None
    ball: Ball | None = None

    def __post_init__(self) -> None:
        if self.box is None and self.ball is None:
            raise InvalidArgument("constraint needs a box, a ball or both (null means no constraint)")
        named = [(f"constraint.{k}", v) for k, v in self._vectors_by_name().items()]
        for name, value in named[1:]:
            same_length(name, value, *named[0])
        lower, upper = self.bounds
        if np.any(crossed := np.asarray(lower) > np.asarray(upper)):
            raise InvalidArgument(f"constraint.box and constraint.ball do not intersect{where(crossed, lower, upper)}")
        if self.sphere is not None and self.box is not None:
            checks.overlap(*self.sphere, lower, upper, 1)

    # --- the set in the form the projection uses ----------------------------------------------
    @cached_property
    def bounds(self) -> tuple[Any, Any]:
        """(lower, upper): the box, cut by an l-inf ball; -+float32 max where neither bounds x."""
        bounds = [(self.box.lower, self.box.upper)] if self.box is not None else []
        if self.ball is not None and self.ball.norm == "inf":
            bounds.append(self.ball.as_box())
        if not bounds:
            return np.float32(-F32_MAX), np.float32(F32_MAX)
        if len(bounds) == 1:  # the held vectors themselves: no copy of d floats
            return held(bounds[0][0]), held(bounds[0][1])
        return held(np.maximum(bounds[0][0], bounds[1][0])), held(np.minimum(bounds[0][1], bounds[1][1]))

    @cached_property
    def sphere(self) -> tuple[Any, float] | None:
        """(center, radius) of an l2 ball, else None."""
        return None if self.ball is None or self.ball.norm != "2" else (held(self.ball.center), self.ball.radius)

    @property
    def dim(self) -> int | None:
        """The length of its vectors; None when all its numbers are scalars."""
        sizes = [v.size for v in self._vectors_by_name().values()]
        return sizes[0] if sizes else None

    def check_dim(self, dim: int, of: str = "the session has dim") -> None:
        """Raises InvalidArgument when a vector of the set does not have ``dim`` values, or the
        set is empty in ``dim`` dimensions (a box and a ball of scalars, checked in one before)."""
        for name, vector in self._vectors_by_name().items():
            if vector.size != dim:
                raise InvalidArgument(f"constraint.{name} has {vector.size} values, {of} {dim}")
        if self.sphere is not None and self.box is not None and self.dim is None:
            checks.overlap(*self.sphere, *self.bounds, dim)

    def project(self, a: np.ndarray, weights: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """argmin over x in X of sum_i w_i (x_i - a_i)^2 (``weights`` None: Euclidean), into ``out``
        (may be ``a``; a new array when None).  Raises InvalidArgument for what
        ``checks.point_and_weights`` refuses, or a point not of the set's length."""
        checks.point_and_weights(a, weights, out, ball=self.sphere is not None)
        self.check_dim(a.size, "the point has")
        return self.project_in_step(a, weights, out)

    def project_in_step(self, a: np.ndarray, weights: np.ndarray | None = None,
                        out: np.ndarray | None = None) -> np.ndarray:
        """``project`` without the weights' check: a step's (sqrt(v_hat) + eps) are > 0, and it saves a pass."""
        if out is None:
            out = np.array(a, copy=True)
        elif out is not a:
            np.copyto(out, a)
        if self.sphere is None:
            projection.clip_into(out, *self.bounds)
            return out
        center, radius = self.sphere
        lower, upper = self.bounds if self.box is not None else (None, None)
        return projection.project_ball(out, center, radius, weights=weights, lower=lower, upper=upper, out=out)

    def admit(self, x: np.ndarray, name: str = "x0") -> None:
        """Move float32 ``x`` onto the set, in place, when it is outside by no more than float32's
        rounding of a point on its boundary as given (``within_rounding``: x = 0 on the sphere about
        (0.3, 0.4)); else raise InvalidArgument saying by how much."""
        if not np.all(np.isfinite(x)):  # a NaN is outside nothing: violation would pass it
            raise InvalidArgument(f"{name} contains NaN or infinite values")
        if not (outside := self.violation(x, name)):
            return
        if checks.within_rounding(self, x) and not self.violation(nearest := self.project(x)):
            x[...] = nearest
            return
        outside = self.violation(checks.faces_forgiven(self, x), name) or outside  # what rounding does not explain
        raise InvalidArgument(f"{name} lies outside the session's constraint: {outside}; the nearest point "
                              f"inside is the set's projection of {name} (FeasibleSet.project in the SDK)")

    def violation(self, x: np.ndarray, name: str = "x") -> str | None:
        """How far ``x`` lies outside the set, in words; None when it is inside."""
        x = np.asarray(x)
        problems = []
        if self.box is not None:
            problems += outside(x, self.box.lower, self.box.upper, name, "constraint.box")
        if self.ball is not None and self.ball.norm == "inf":
            problems += outside(x, *self.ball.as_box(), name, "the l-inf constraint.ball")
        if self.sphere is not None:
            center, radius = self.sphere
            distance = math.sqrt(projection.squared_distance(x, center))
            if distance > radius:
                digits = next(n for n in (6, 9, 17) if f"{distance:.{n}g}" != f"{radius:.{n}g}")  # told apart
                problems.append(f"||{name} - center||_2 = {distance:.{digits}g} exceeds constraint.ball.radius "
                                f"{radius:.{digits}g} by {distance - radius:.3g}")
        return "; ".join(problems) or None

    def shrunk(self, margin: float) -> FeasibleSet:
        """The set with every face moved ``margin`` inward, and a little more: with sphere
        directions, the probes x + mu u of a point x of ``shrunk(mu)``, computed in float32 as the
        SDK computes them, stay in this set (``docs/constraints.md``).  The little more, 2^-21 of
        margin plus the size of the points near that face (a bound's own size; a ball's center and
        radius), covers float32's rounding of mu, of a unit direction and of each x + mu u.

        Raises:
            InvalidArgument: ``margin`` is not a number, is negative or not finite, or leaves nothing.
        """
        said, margin = shown(margin), nonnegative_float("margin", margin)  # float32(mu) included
        def inward(size, free=False):  # the face's move, for points of that size near it; none for no bound
            return np.where(free, 0.0, margin + (margin + size) * 2.0**-21)

        box = ball = None
        if self.ball is not None:
            radius = float(self.ball.radius - inward(reach(self.ball)))
            if not radius > 0:
                raise InvalidArgument(f"margin {said} is not below constraint.ball.radius {self.ball.radius!r}")
            ball = Ball(self.ball.norm, self.ball.center, radius)
        if self.box is not None:
            lower, upper = np.asarray(self.box.lower, np.float64), np.asarray(self.box.upper, np.float64)
            lower, upper = lower + inward(abs(lower), lower <= -F32_MAX), upper - inward(abs(upper), upper >= F32_MAX)
            if np.any(lower > upper):
                narrowest = float(np.min(np.asarray(self.box.upper, np.float64) - self.box.lower))
                raise InvalidArgument(f"margin {said} leaves nothing of constraint.box (its narrowest side is "
                                      f"{narrowest:.6g} wide)")
            box = Box(lower, upper)
        try:
            return FeasibleSet(box, ball)
        except InvalidArgument as apart:  # the faces moved apart: said of the margin, not of a set never given
            raise InvalidArgument(f"margin {said} leaves nothing of constraint: moved in by it, {apart}") from None

    # --- serialisation ------------------------------------------------------------------------
    def to_dict(self, inline: bool = False) -> dict:
        """The JSON part: every field but the vectors (see ``vectors``); with ``inline``, the
        vectors too, as lists of the float64 values of their float32s (``from_dict`` reads them
        back to the same bits)."""
        data: dict = {}
        for part in ("box", "ball"):
            value = getattr(self, part)
            if value is not None:
                fields = {f: getattr(value, f) for f in _FIELDS[part]}
                data[part] = {f: v.tolist() if isinstance(v, np.ndarray) else v
                              for f, v in fields.items() if inline or not isinstance(v, np.ndarray)}
        return data

    def vectors(self) -> dict[str, np.ndarray]:
        """The float32 vectors by dotted name ("box.lower", "box.upper", "ball.center")."""
        return self._vectors_by_name()

    @classmethod
    def from_dict(cls, data: dict, vectors: dict[str, np.ndarray] | None = None) -> FeasibleSet:
        """Build and check a set from its JSON shape, its vectors given inline or in ``vectors``.

        Raises:
            InvalidArgument: not a JSON object, an unknown or missing field, a field given
                twice, or any check of ``Box``, ``Ball`` and ``FeasibleSet``.
        """
        vectors = dict(vectors or {})
        object_fields("constraint", data, tuple(_FIELDS))
        parts = {}
        for part, names in _FIELDS.items():
            if data.get(part) is not None:
                parts[part] = part_fields(part, names, data[part], vectors)
            elif sent := sorted(f"constraint.{k}" for k in vectors if k.startswith(f"{part}.")):  # alone: no part
                raise InvalidArgument(f"constraint.{part} is {'null' if part in data else 'missing'}, yet "
                                      f"{some(sent)} came with it: send {part} (those fields left out of it)")
        if vectors:
            raise InvalidArgument(f"constraint has unknown fields {some(sorted(vectors))}")
        box = Box(**parts["box"]) if "box" in parts else None
        ball = Ball(**parts["ball"]) if "ball" in parts else None
        return cls(box, ball)

    def _vectors_by_name(self) -> dict[str, np.ndarray]:
        parts = {part: value for part in ("box", "ball") if (value := getattr(self, part)) is not None}
        return {f"{part}.{f}": getattr(value, f) for part, value in parts.items() for f in _FIELDS[part]
                if isinstance(getattr(value, f), np.ndarray)}

    def _key(self) -> tuple:
        digest = hashlib.blake2b(digest_size=16)
        for name, vector in self._vectors_by_name().items():
            digest.update(name.encode() + vector.tobytes())
        return repr(sorted(self.to_dict().items())), digest.hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeasibleSet) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())
