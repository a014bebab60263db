"""Zeroth-order gradient estimators (Eqs. 1 and 2 of the paper, plus a central difference).

A ZO estimate is always ``g = sum_i c_i u_i`` over the step's q directions, so a step is fully
described by q scalar coefficients: that is what the service journals instead of a d-vector.

forward:  c_i = phi(d) / (mu q) * (f(x + mu u_i) - f(x))
central:  c_i = phi(d) / (2 mu q) * (f(x + mu u_i) - f(x - mu u_i))

with phi(d) = d for directions uniform on the unit sphere and 1 for Gaussian directions, so that
E[g] is the gradient of the mu-smoothed objective.  Eq. 3 (one direction for a minibatch) is the
objective's business: it reports the mean minibatch loss as f.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._validate import (
    InvalidArgument,
    finite_values,
    numbers,
    one_axis,
    one_of,
    positive_float,
    positive_int,
    unsigned64,
)
from .directions import DISTRIBUTIONS, direction_blocks

DIFFERENCES = ("forward", "central")
# AdaMM squares the gradient in float32: beyond sqrt(max float32), v becomes inf and the session
# never moves again (or x becomes NaN), so such a step is refused before it is taken.
GRADIENT_MAX = float(np.sqrt(np.finfo(np.float32).max))
DIRECTION_MAX = {"sphere": 1.0, "gaussian": 8.0}  # bounds on |u_j| (gaussian: 4.33 in fact)


def check_gradient_size(coefficients: np.ndarray | None, gradient: np.ndarray | None, distribution: str) -> None:
    """Raises InvalidArgument when a step's gradient (given, or sum_i c_i u_i) could square past
    float32, or is not finite."""
    if coefficients is not None:
        bound = float(np.sum(np.abs(coefficients, dtype=np.float64))) * DIRECTION_MAX[distribution]
        what = "these function values make a gradient"
    else:
        assert gradient is not None, "a step has coefficients or a gradient"
        bound = float(np.max(np.abs(gradient)))
        what = "this gradient is"
    if not bound < GRADIENT_MAX:
        raise InvalidArgument(f"{what} too large: |g| must stay below {GRADIENT_MAX:.3g}, which keeps every "
                              "method's float32 state finite")


def check_part_size(coefficients: np.ndarray, directions: int, distribution: str) -> None:
    """Raises InvalidArgument when some of a step's ``directions`` coefficients, reported apart
    (a split step), take more than their share (1/q each) of ``check_gradient_size``'s bound:
    parts are recorded as they come, so the whole step must pass whatever the others report."""
    largest = float(np.max(np.abs(coefficients, dtype=np.float64), initial=0.0))
    if not largest * DIRECTION_MAX[distribution] * directions < GRADIENT_MAX:
        raise InvalidArgument(f"these function values make a direction's share of the gradient too large: each of "
                              f"the q = {directions} directions must stay below 1/q of |g|'s bound "
                              f"{GRADIENT_MAX:.3g} when a step is reported in parts")


def dimension_factor(dim: int, distribution: str) -> float:
    """phi(d): d on the sphere (E[u u^T] = I/d), 1 for Gaussian directions (E[u u^T] = I)."""
    positive_int("dim", dim)
    return float(dim) if one_of("distribution", distribution, DISTRIBUTIONS) == "sphere" else 1.0


def zo_coefficients(
    f_x: float | np.ndarray,
    f_plus: np.ndarray,
    f_minus: np.ndarray | None,
    *,
    mu: float,
    dim: int,
    distribution: str = "sphere",
    difference: str = "forward",
) -> np.ndarray:
    """The q coefficients c_i (float64) of ``g = sum_i c_i u_i``.

    ``f_x`` may be one value or one per direction (workers that split a step each report the
    baseline they measured).

    Raises:
        InvalidArgument: no values, mismatched lengths, non-finite values, mu <= 0, a missing
            or unexpected ``f_minus``.
    """
    positive_float("mu", mu)
    one_of("difference", difference, DIFFERENCES)
    plus = finite_values("f_plus", one_axis("f_plus", numbers("f_plus", f_plus)))
    q = plus.size
    if q < 1:
        raise InvalidArgument("f_plus needs at least one value (q >= 1)")
    phi = dimension_factor(dim, distribution)
    if difference == "forward":
        if f_minus is not None:
            raise InvalidArgument("f_minus is only used with difference='central'")
        base = one_axis("f_x", numbers("f_x", f_x))
        if base.size not in (1, q):  # numpy's broadcast error would not be an InvalidArgument
            raise InvalidArgument(f"f_x has {base.size} values, f_plus has {q}")
        base = finite_values("f_x", base)  # one value or q: the subtraction broadcasts it
        return (phi / (mu * q)) * (plus - base)
    if f_minus is None:
        raise InvalidArgument("difference='central' needs f_minus (one value per direction)")
    minus = finite_values("f_minus", one_axis("f_minus", numbers("f_minus", f_minus)))
    if minus.size != q:
        raise InvalidArgument(f"f_minus has {minus.size} values, f_plus has {q}")
    return (phi / (2.0 * mu * q)) * (plus - minus)


def assemble_gradient(
    coefficients: np.ndarray,
    *,
    seed: int,
    step: int,
    dim: int,
    distribution: str,
    out: np.ndarray | None = None,
    directions: np.ndarray | None = None,
) -> np.ndarray:
    """``g = sum_i float32(c_i) * u_i`` in float32, accumulated in index order (a fixed order, so
    every process that replays a step gets the same bits).

    ``directions`` may pass the step's (q, d) directions when the caller already made them;
    the result is the same bits as regenerating them (a block at a time, ``direction_blocks``).
    """
    coefficients = np.asarray(coefficients, dtype=np.float32)
    g = np.zeros(dim, dtype=np.float32) if out is None else out
    g.fill(0.0)
    if directions is not None:
        u = np.empty(dim, dtype=np.float32)
        for row, c in enumerate(coefficients):
            np.multiply(directions[row], c, out=u)
            g += u
        return g
    for start, block in direction_blocks(seed, step, range(len(coefficients)), dim, distribution):
        block *= coefficients[start : start + len(block), None]  # the block is this loop's own buffer
        for u in block:
            g += u
    return g


def zo_gradient(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    *,
    mu: float,
    seed: int,
    step: int,
    directions: int = 1,
    distribution: str = "sphere",
    difference: str = "forward",
) -> tuple[np.ndarray, int]:
    """Estimate the gradient of ``f`` at ``x`` in-process; returns (g, function evaluations).

    Raises:
        InvalidArgument: as :func:`zo_coefficients`, or when ``f`` returns a non-finite value.
    """
    # validate before the first evaluation: f may be slow, remote or counted
    positive_int("directions", directions)
    positive_float("mu", mu)
    one_of("distribution", distribution, DISTRIBUTIONS)
    one_of("difference", difference, DIFFERENCES)
    unsigned64("seed", seed)
    unsigned64("step", step)
    x = np.asarray(x, dtype=np.float32)
    dim = x.size
    f_x = float(f(x)) if difference == "forward" else 0.0
    plus, minus = [], []
    for _, block in direction_blocks(seed, step, range(directions), dim, distribution):
        for u in block:
            plus.append(float(f(x + np.float32(mu) * u)))
            if difference == "central":
                minus.append(float(f(x - np.float32(mu) * u)))
    coefficients = zo_coefficients(
        f_x, np.array(plus), np.array(minus) if difference == "central" else None,
        mu=mu, dim=dim, distribution=distribution, difference=difference,
    )
    g = assemble_gradient(coefficients, seed=seed, step=step, dim=dim, distribution=distribution)
    return g, len(plus) + len(minus) + (difference == "forward")  # the calls of f made here
