"""Exact projections onto a box and an l2 ball under a diagonal metric (``docs/constraints.md``).

    P(a) = argmin over x in X of  sum_i h_i (x_i - a_i)^2,   h_i > 0  (h = 1: Euclidean)

- Box (an l-inf ball is one): clip each coordinate.  Objective and set are separable, so
  clipping is the exact projection under every diagonal metric.
- l2 ball ||x - c|| <= r, alone or cut by a box [lower, upper]: for a multiplier lam >= 0 the
  Lagrangian separates, x_i(lam) = clip(c_i + h_i (a_i - c_i) / (h_i + lam), lower_i, upper_i),
  and ||x(lam) - c|| falls monotonically from ||clip(a) - c|| (lam = 0) to dist(c, box) (lam ->
  infinity).  When a is outside, lam solves ||x(lam) - c|| = r: safeguarded Newton on
  1 / ||x(lam) - c|| - 1 / r, the secular equation of More and Sorensen (1983), concave without
  a box, so its iterates rise monotonically to the root and converge quadratically.

Determinism: every sum is numpy's pairwise sum over a contiguous float64 block of a fixed size,
the blocks added in order; no BLAS, no threads.  Two processes with the same inputs get the same
bits.  Feasibility survives rounding: lam is solved for the radius shrunk by ``MARGIN``, and a
float32 result rounds each coordinate toward the center (never away), so it stays in the ball,
and in the box, whose bounds are float32.
"""

from __future__ import annotations

import math

import numpy as np

BLOCK = 1 << 15  # float64 work buffers of 256 KiB each stay in cache
MARGIN = 2.0**-44  # relative: the radius lam is solved for, below rounding noise in the sums
_NEWTON_DONE = 2.0**-27  # a step this small (relative) leaves an error below float64 precision
_MAX_ITERATIONS = 200  # bisection of a float64 bracket ends well within this


def clip_into(x: np.ndarray, lower, upper) -> None:
    """Clip ``x`` into [lower, upper] in place (bounds: scalars or arrays of x's length)."""
    if np.ndim(lower) == 0 and np.ndim(upper) == 0:
        np.clip(x, lower, upper, out=x)  # numpy's vectorised path for scalar bounds
    else:
        # np.clip with array bounds takes a slow generic loop; two ufuncs are several times faster
        np.maximum(x, lower, out=x)
        np.minimum(x, upper, out=x)


def project_ball(
    a: np.ndarray,
    center,
    radius: float,
    *,
    weights: np.ndarray | None = None,
    lower=None,
    upper=None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The projection of ``a`` onto {||x - center|| <= radius}, cut by [lower, upper] if given,
    under diag(weights) (Euclidean when None).  ``out`` may be ``a`` itself.

    ``center``, ``lower`` and ``upper`` are float32 scalars or vectors; ``weights`` must be
    positive.  The caller guarantees that the set is not empty (dist(center, box) < radius).
    """
    out = np.empty_like(a) if out is None else out
    # The common case first: clip(a) already in the ball.  ||clip(a) - c|| does not depend on
    # the weights, so one lean pass (no weights, no slope) decides it, and nothing is written
    # but the clipping.  NaN falls through unchanged, as a point inside would.
    if not _Ball(a, center, None, lower, upper).evaluate(0.0, slope=False)[0] > radius * radius:
        if out is not a:
            np.copyto(out, a)
        if lower is not None:
            clip_into(out, lower, upper)
        return out
    ball = _Ball(a, center, weights, lower, upper)
    squared, slope = ball.evaluate(0.0)
    target = radius * (1.0 - MARGIN)
    if weights is None and lower is None:  # the Euclidean ball: a scaling, in closed form
        ball.write(math.sqrt(squared) / target - 1.0, out)
        return out
    ball.write(ball.solve(target, squared, slope), out)
    return out


class _Ball:
    """One projection's inputs and float64 work buffers, evaluated block by block."""

    def __init__(self, a, center, weights, lower, upper) -> None:
        self.a, self.center, self.weights = a, center, weights
        self.lower, self.upper = lower, upper
        size = min(a.size, BLOCK)
        self.z, self.hz, self.denominator, self.shift, self.point, self.free = (np.empty(size) for _ in range(6))
        self.held = None  # one block: a - c and h (a - c) once for all evaluations, not once each
        if a.size <= BLOCK:
            self.held = self._inputs(0, a.size, slice(0, a.size))

    def _blocks(self):
        for start in range(0, self.a.size, BLOCK):
            stop = min(self.a.size, start + BLOCK)
            yield start, stop, slice(0, stop - start)

    @staticmethod
    def _part(value, start: int, stop: int):
        return value if np.ndim(value) == 0 else value[start:stop]

    def _inputs(self, start: int, stop: int, used: slice):
        """(a - c, h (a - c), h) on one block in float64; h is 1.0 when unweighted."""
        if self.held is not None:
            return self.held
        c = self._part(self.center, start, stop)
        z = np.subtract(self.a[start:stop], c, out=self.z[used], dtype=np.float64)
        if self.weights is None:
            return z, z, 1.0
        h = self.weights[start:stop]  # float32: each operation below takes it to float64 exactly
        return z, np.multiply(z, h, out=self.hz[used], dtype=np.float64), h

    def _shift(self, lam: float, start: int, stop: int, used: slice):
        """x(lam) - c on one block, with h + lam and, with a box, x(lam) in ``point`` and 1 in
        ``free`` where the box does not hold the coordinate."""
        z, hz, h = self._inputs(start, stop, used)
        shift = self.shift[used]
        if not lam:  # a itself: the ratio is 1, even where a weight is 0
            den = h
            np.copyto(shift, z)
        else:
            den = 1.0 + lam if self.weights is None else np.add(h, lam, out=self.denominator[used], dtype=np.float64)
            np.divide(hz, den, out=shift)
        if self.lower is None:
            return shift, den, None
        c = self._part(self.center, start, stop)
        point, free = self.point[used], self.free[used]
        if lam:
            np.add(shift, c, out=point)
        else:
            np.copyto(point, self.a[start:stop])  # a itself, exactly
        np.copyto(free, point)
        clip_into(point, self._part(self.lower, start, stop), self._part(self.upper, start, stop))
        np.equal(free, point, out=free)
        np.subtract(point, c, out=shift)
        return shift, den, free

    def evaluate(self, lam: float, slope: bool = True) -> tuple[float, float]:
        """(||x(lam) - c||^2, half its slope's magnitude = sum over free i of shift_i^2 / (h_i + lam));
        the slope is 0.0 when not asked for (a pass less)."""
        squared = total = 0.0
        for start, stop, used in self._blocks():
            shift, den, free = self._shift(lam, start, stop, used)
            np.multiply(shift, shift, out=shift)
            squared += float(np.add.reduce(shift))
            if not slope:
                continue
            shift /= den
            if free is not None:
                shift *= free
            total += float(np.add.reduce(shift))
        return squared, total

    def solve(self, target: float, squared: float, slope: float) -> float:
        """The lam > 0 with ||x(lam) - c|| = target, from the values at lam = 0 (outside)."""
        lam, low, high = 0.0, 0.0, math.inf
        goal = target * target
        for _ in range(_MAX_ITERATIONS):
            # Newton on 1/sqrt(S) - 1/target, S = squared: step = S (sqrt(S)/target - 1) / slope
            step = squared * (math.sqrt(squared) / target - 1.0) / slope if slope > 0 else math.inf
            guess = lam + step
            if guess < math.inf and low <= guess <= high and abs(step) <= _NEWTON_DONE * guess:
                return guess
            if not low < guess < high:
                guess = (low + high) / 2 if high < math.inf else max(2.0 * low, self._scale())
            lam = guess
            squared, slope = self.evaluate(lam)
            if squared > goal:
                low = lam
            else:
                high = lam
            if high < math.inf and high - low <= 4 * math.ulp(high):
                break
        return high

    def _scale(self) -> float:
        """A multiplier of the weights' size, where bisection starts when Newton cannot (rare:
        computed only then)."""
        return 1.0 if self.weights is None else float(np.max(self.weights))

    def write(self, lam: float, out: np.ndarray) -> None:
        """x(lam) into ``out``: float64 as computed, float32 rounded toward the center."""
        for start, stop, used in self._blocks():
            c = self._part(self.center, start, stop)
            shift = self._shift(lam, start, stop, used)[0]
            point = self.point[used]
            if self.lower is None and lam:
                np.add(shift, c, out=point)
            elif self.lower is None:
                np.copyto(point, self.a[start:stop])  # a itself, exactly
            target = out[start:stop]
            np.copyto(target, point, casting="same_kind")  # to nearest
            if out.dtype == np.float32:
                _step_back_toward(target, point, shift, self.denominator[used])


def _step_back_toward(target: np.ndarray, point: np.ndarray, shift: np.ndarray, work: np.ndarray) -> None:
    """Where rounding ``point`` (= c + shift) to the float32 ``target`` moved it away from the
    center c, move it one float32 back (never past c, itself a float32).  On the bits of a
    finite nonzero float32, -1 steps toward 0 and +1 away from it: toward c is toward 0 when
    target and shift have the same sign.  A coordinate that rounded to 0 keeps it (off by under
    1e-45, far within ``MARGIN``)."""
    np.subtract(target, point, out=work)
    work *= shift
    outward = work > 0  # rounded on the far side of point, seen from c
    outward &= target != 0
    away_from_zero = np.not_equal(shift > 0, target > 0)
    away_from_zero &= outward
    bits = target.view(np.int32)
    bits -= outward
    bits += away_from_zero
    bits += away_from_zero


def squared_distance(a: np.ndarray, center) -> float:
    """||a - center||^2 in float64, summed as the projection sums (the same bits)."""
    return _Ball(np.asarray(a).reshape(-1), center, None, None, None).evaluate(0.0)[0]
