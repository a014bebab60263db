"""Every session's state stays finite in float32: a step whose result would not be is refused
(422) before it is journaled.

The schema's bounds (lr <= 1e3, eps >= 1e-12) and the per-step bound on the gradient
(``zoadamm.estimators.check_gradient_size``: |g| < 1.8e19, so g*g, m and v are finite) leave one way to overflow:
x itself, when it is already near float32's limit.  One AdaMM step moves each x_j by at most
lr * |m_j| / eps, and |m_j| < |g|max (``step_bound`` covers every method), so a scalar bound
decides almost every step; only when it cannot, the exact maximum of |x| is computed, and then,
if needed, the step is tried on a copy (``Replica.check_finite`` keeps the bound and asks these functions).
"""

from __future__ import annotations

import functools

import numpy as np

from zoadamm import Optimizer, SessionConfig, StepRecord
from zoadamm.estimators import GRADIENT_MAX

# half of float32's largest value: a margin for the rounding of the update's last operations
X_LIMIT = float(np.finfo(np.float32).max) / 2


def step_bound(config: SessionConfig, lr: float) -> float:
    """The most one step can move any x_j: lr |g| / eps for the adaptive methods (|m| < |g|max,
    Adam's bias correction included, and their denominator is at least eps), lr |g| for zo-sgd
    and lr for zo-signsgd, both below lr |g|max / min(eps, 1).  A projection only moves x into
    X, whose bounds are finite float32."""
    return _step_bound(lr, config.eps)


@functools.lru_cache(maxsize=256)  # lr and eps change seldom, and each step asks twice
def _step_bound(lr: float, eps: float) -> float:
    return float(np.float32(lr)) * 1.001 * GRADIENT_MAX / min(float(np.float32(eps)), 1.0)


def max_abs(x: np.ndarray) -> float:
    return float(np.max(np.abs(x))) if x.size else 0.0


def finite_after(optimizer: Optimizer, record: StepRecord) -> bool:
    trial = Optimizer(optimizer.config, optimizer.state.copy(), optimizer.lr, optimizer.mu, optimizer.plateau)
    with np.errstate(over="ignore", invalid="ignore"):
        trial.apply(record)
    state = trial.state
    return all(bool(np.all(np.isfinite(a))) for a in (state.x, state.m, state.v, state.v_hat))
