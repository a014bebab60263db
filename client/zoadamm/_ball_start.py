"""Where the l2-ball projection's root search starts (``projection.py``), from the first pass's
moments M_j = sum_i z_i^2 h_i^j (z = a - c, j < 2n) alone.

Without a box, S(lam) = ||x(lam) - c||^2 = sum_i z_i^2 h_i^2 / (h_i + lam)^2 is the integral of
f(h) = h^2 / (h + lam)^2 against the measure nu that puts z_i^2 on each h_i.  The n-point Gauss
rule of nu, built from its first 2n moments (the M_j), integrates f for every lam > 0 with an
error that falls geometrically in n (f is analytic on the weights' range; its pole, at -lam,
lies off it); S is then replaced by that n-term sum, whose root is found here by Newton's method
at no cost in passes over d.  The rule is never formed as nodes and weights: with J the Jacobi
matrix of nu (from the moments by Chebyshev's algorithm, Gautschi 2004, section 2.1.7), the rule
gives M_0 ||(J + lam)^-1 J e_1||^2, two tridiagonal solves.

Only +, -, *, / and sqrt, all correctly rounded in IEEE 754, so every machine computes the same
start from the same moments (libm's pow, exp or LAPACK would not promise that).  The start only
has to be near the root: the passes that follow make the result exact; where the moments are
degenerate the rule uses fewer points, and None means no start.
"""

from __future__ import annotations

import math

_SPREAD = 2.0**-40  # a level of the recurrence this small against the last one: nu has no more points
_MODEL_DONE = 2.0**-40  # Newton on the n-term sum stops below this relative step: far below the rule's error


def jacobi(moments: list[float]) -> tuple[list[float], list[float]]:
    """(alpha, off-diagonal) of the Jacobi matrix of the measure with these moments (scaled so
    that its mean is near 1), for as many points as the moments support."""
    n = len(moments) // 2
    alpha, beta = [moments[1] / moments[0]], [moments[0]]
    before, level = [0.0] * len(moments), list(moments)
    for k in range(1, n):
        nxt = [0.0] * len(moments)
        for m in range(k, 2 * n - k):
            nxt[m] = level[m + 1] - alpha[k - 1] * level[m] - beta[k - 1] * before[m]
        spread = nxt[k] / level[k - 1]
        if not (spread > _SPREAD * alpha[0] * alpha[0] and math.isfinite(nxt[k + 1])):
            break
        alpha.append(nxt[k + 1] / nxt[k] - level[k] / level[k - 1])
        beta.append(spread)
        before, level = level, nxt
    return alpha, [math.sqrt(b) for b in beta[1:]]


def _factor(alpha: list[float], off: list[float], mu: float) -> list[float]:
    """The pivots of J + mu = L D L^T for the symmetric tridiagonal J, positive definite for mu >= 0."""
    pivots = [alpha[0] + mu]
    for i in range(1, len(alpha)):
        pivots.append(alpha[i] + mu - off[i - 1] * off[i - 1] / pivots[i - 1])
    return pivots


def _solve(pivots: list[float], off: list[float], rhs: list[float]) -> list[float]:
    """(J + mu) y = rhs, from ``_factor``'s pivots."""
    n = len(pivots)
    right = [rhs[0]]
    for i in range(1, n):
        right.append(rhs[i] - off[i - 1] / pivots[i - 1] * right[i - 1])
    y = [0.0] * n
    y[n - 1] = right[n - 1] / pivots[n - 1]
    for i in range(n - 2, -1, -1):
        y[i] = (right[i] - off[i] * y[i + 1]) / pivots[i]
    return y


def start(moments: list[float], target: float) -> float | None:
    """The root of the n-point rule's S(lam) = target^2 (n = len(moments) // 2), or None."""
    if not (moments[0] > target * target and moments[1] > 0 and all(math.isfinite(m) for m in moments)):
        return None
    scale = moments[1] / moments[0]  # the weights' mean under nu: the rule works in h / scale
    scaled, power = [], 1.0
    for m in moments:
        scaled.append(m / power)
        power *= scale
    if not all(math.isfinite(m) and m >= 0 for m in scaled):
        return None
    try:
        return _root(scaled, target, scale)
    except (ZeroDivisionError, ValueError):
        # moments whose rounding passes the test of a point more than nu has (weights of two
        # values 1e18 apart) give a zero pivot or a negative level: no start, Newton from 0
        return None


def _root(scaled: list[float], target: float, scale: float) -> float | None:
    alpha, off = jacobi(scaled)
    rhs = [alpha[0]] + ([off[0]] if off else []) + [0.0] * (len(alpha) - 2)
    mu = 0.0  # Newton from 0 on 1/sqrt(S) - 1/target, concave here too: it rises to the root
    for _ in range(100):
        pivots = _factor(alpha, off, mu)
        y = _solve(pivots, off, rhs)
        u = _solve(pivots, off, y)
        squared = slope = 0.0
        for i in range(len(y)):  # in order (the builtin sum compensates since Python 3.12)
            squared += y[i] * y[i]
            slope += y[i] * u[i]
        squared, slope = scaled[0] * squared, scaled[0] * slope
        if not (squared > 0 and slope > 0):
            return None
        step = squared * (math.sqrt(squared) / target - 1.0) / slope
        mu += step
        if not math.isfinite(mu) or mu <= 0:
            return None
        if abs(step) <= _MODEL_DONE * mu:
            return mu * scale
    return None
