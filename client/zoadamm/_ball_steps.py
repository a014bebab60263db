"""The steps of the l2 ball's root search (``projection._Ball.solve``): Newton's and Halley's on
the secular equation, and where a bracket of the root is cut when neither step lands inside it."""

from __future__ import annotations

import math

# A Newton step this small (relative) leaves an error below float64 precision (quadratic
# convergence); a Halley step this small does (cubic convergence).
_NEWTON_DONE = 2.0**-27
_HALLEY_DONE = 2.0**-18
_HALLEY_NEAR = 2.0**-7  # Halley's step is taken once Newton's is this small: near the root


def between(low: float, high: float) -> float:
    """Where a bracket (0 < low < high) of the root is cut: halfway, or, in a bracket of many
    binades, at the geometric mean, which takes a binade count's logarithm of cuts where halving
    took hundreds."""
    return (low + high) / 2 if high <= 16.0 * low else math.sqrt(low * high)


def step_to_root(lam: float, squared: float, slope: float, curve: float, target: float) -> tuple[float, float]:
    """(step, the relative step below which the iterate it gives is final) on
    phi(lam) = 1/sqrt(S) - 1/target: Newton's (S' = -2 T1), or Halley's once Newton's is small
    (S'' = 6 T2 without a box; with one, T1 and T2 leave out the coordinates the box holds)."""
    if not slope > 0:
        return math.inf, _NEWTON_DONE
    root = math.sqrt(squared)
    newton = squared * (root / target - 1.0) / slope
    if not abs(newton) <= _HALLEY_NEAR * (lam + newton):
        return newton, _NEWTON_DONE
    phi = 1.0 / root - 1.0 / target  # phi' = T1 / S^1.5, phi'' = 3 (T1^2 / S - T2) / S^1.5
    first = slope / (squared * root)
    second = 3.0 * (slope * slope / squared - curve) / (squared * root)
    denominator = 2.0 * first * first - phi * second
    if not denominator > 0:
        return newton, _NEWTON_DONE
    halley = -2.0 * phi * first / denominator
    return (halley, _HALLEY_DONE) if math.isfinite(halley) else (newton, _NEWTON_DONE)
