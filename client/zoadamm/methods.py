"""The session methods: ZO-AdaMM, its first-order twin AdaMM, and the ZO methods it is
compared with (ZO-SGD, ZO-signSGD, ZO-Adam).  Each is a pure in-place update of the state on
one gradient (a ZO estimate ``sum_i c_i u_i`` or an exact gradient) followed by the projection
onto the session's feasible set in the method's own metric, so a step is still described by q
coefficients or a gradient.

``STATE_VECTORS`` says which vectors of ``AdaMMState`` each method keeps (the others stay empty):
a checkpoint writes and reads those, through ``state_vectors`` and ``state_from_vectors``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._validate import InvalidArgument, one_of
from .adamm import (
    NOT_KEPT,
    VECTORS,
    AdaMMConfig,
    AdaMMState,
    adamm_update,
    check_step,
    compiled,
    compiled_rates,
    descend,
    runs_compiled,
    step_compiled,
    update_moments,
)

if TYPE_CHECKING:
    from .constraints import FeasibleSet


def sgd_update(
    state: AdaMMState, gradient: np.ndarray, lr: float, config: AdaMMConfig, constraint: FeasibleSet | None = None
) -> None:
    """Projected (ZO-)SGD (Ghadimi and Lan 2013): x = P_X(x - lr g), Euclidean P.  ``config`` is
    unused; ``gradient`` is overwritten.

    Raises:
        InvalidArgument: the gradient has the wrong shape or dtype, or lr is not positive.
    """
    check_step(state, gradient, lr)
    gradient *= np.float32(lr)
    descend(state, gradient, constraint)


def signsgd_update(
    state: AdaMMState, gradient: np.ndarray, lr: float, config: AdaMMConfig, constraint: FeasibleSet | None = None
) -> None:
    """Projected ZO-signSGD (Liu et al. 2019): x = P_X(x - lr sign(g)), Euclidean P; sign(0) = 0.
    ``config`` is unused; ``gradient`` is overwritten.

    Raises:
        InvalidArgument: the gradient has the wrong shape or dtype, or lr is not positive.
    """
    check_step(state, gradient, lr)
    np.sign(gradient, out=gradient)
    gradient *= np.float32(lr)
    descend(state, gradient, constraint)


def adam_update(
    state: AdaMMState, gradient: np.ndarray, lr: float, config: AdaMMConfig, constraint: FeasibleSet | None = None
) -> None:
    """Bias-corrected Adam (Kingma and Ba 2015), with the corrections applied where
    ``torch.optim.Adam`` applies them, as MeZO and ZO-Bench run it; projected in its metric
    h = sqrt(v) / sqrt(1 - b2^t) + eps:

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g*g;  x = P_{X,h}(x - lr / (1 - b1^t) * m / h)

    with t = step + 1.  ``config.normalizer`` is not used; ``gradient`` is overwritten.

    Raises:
        InvalidArgument: the gradient has the wrong shape or dtype, or lr is not positive.
    """
    check_step(state, gradient, lr, needs=("x", "m", "v"))
    t = state.step + 1
    b1, b2 = config.beta1, config.beta2
    if runs_compiled(state):
        rates = compiled_rates(config, lr / (1.0 - b1**t), math.sqrt(1.0 - b2**t))
        step_compiled(state, constraint,
                      lambda metric: compiled().adam_update(state.x, state.m, state.v, gradient, metric, rates))
        return
    work = update_moments(state, gradient, config)
    np.sqrt(state.v, out=work)
    work /= np.float32(math.sqrt(1.0 - b2**t))
    work += np.float32(config.eps)
    np.divide(state.m, work, out=gradient)
    gradient *= np.float32(lr / (1.0 - b1**t))
    descend(state, gradient, constraint, work)  # work holds h, the metric of this step


Update = Callable[[AdaMMState, np.ndarray, float, AdaMMConfig, "FeasibleSet | None"], None]


@dataclass(frozen=True)
class Method:
    """A session method: what its tells carry, the vectors it keeps, the metric of its
    projection ("adaptive": the step's denominator h; "euclidean") and its update."""

    name: str
    takes: str
    keeps: tuple[str, ...]
    metric: str
    update: Update


_ADAPTIVE, _EUCLIDEAN = "adaptive", "euclidean"
METHOD_TABLE = {m.name: m for m in (
    Method("zo-adamm", "values", VECTORS, _ADAPTIVE, adamm_update),
    Method("adamm", "gradient", VECTORS, _ADAPTIVE, adamm_update),
    Method("zo-sgd", "values", ("x",), _EUCLIDEAN, sgd_update),
    Method("zo-signsgd", "values", ("x",), _EUCLIDEAN, signsgd_update),
    Method("zo-adam", "values", ("x", "m", "v"), _ADAPTIVE, adam_update),
)}
METHODS = tuple(METHOD_TABLE)
STATE_VECTORS = {name: method.keeps for name, method in METHOD_TABLE.items()}
AMSGRAD_METHODS = ("zo-adamm", "adamm")  # the methods ``normalizer`` applies to


def method(name: str) -> Method:
    """Raises InvalidArgument for a name not in ``METHODS``."""
    return METHOD_TABLE[one_of("method", name, METHODS)]


def state_vectors(name: str, state: AdaMMState) -> dict[str, np.ndarray]:
    """The vectors method ``name`` keeps, by name, in checkpoint order."""
    return {vector: getattr(state, vector) for vector in method(name).keeps}


def state_from_vectors(name: str, vectors: dict[str, np.ndarray], step: int) -> AdaMMState:
    """The state of method ``name`` at ``step`` from the vectors a checkpoint holds (copied).

    Raises:
        InvalidArgument: a vector the method keeps is missing or has another length than x.
    """
    keeps = method(name).keeps
    missing = [v for v in keeps if v not in vectors]
    if missing:
        raise InvalidArgument(f"a {name} state needs the vectors {', '.join(keeps)}; missing {', '.join(missing)}")
    size = np.size(vectors["x"])
    for vector in keeps:
        if np.size(vectors[vector]) != size:
            raise InvalidArgument(f"state vector {vector} has {np.size(vectors[vector])} values, x has {size}")
    held = [np.array(vectors[v], dtype=np.float32).reshape(-1) if v in keeps else NOT_KEPT for v in VECTORS]
    return AdaMMState(held[0], held[1], held[2], held[3], step)
