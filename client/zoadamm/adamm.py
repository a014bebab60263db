"""AdaMM (AMSGrad, Reddi et al.; Algorithm 1 of Chen et al.) on float32 numpy arrays, in place.

The projection of Algorithm 1 is onto the session's feasible set under the metric of the step's
own denominator, sqrt(v_hat) + eps (``docs/constraints.md``); without a set it is the identity.
Every operation is element-wise and correctly rounded under IEEE 754, in a fixed order (the
projection's sums too), so two processes that apply the same gradient to the same state compute
the same bits; the service and a client that mirrors it rely on that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from ._interrupts import held_interrupt
from ._validate import InvalidArgument, finite_values, one_of, positive_float, unit_interval

if TYPE_CHECKING:
    from .constraints import FeasibleSet

NORMALIZERS = ("v_hat", "v")
VECTORS = ("x", "m", "v", "v_hat")  # a state's vectors, in checkpoint order
NOT_KEPT = np.empty(0, dtype=np.float32)  # a vector the method does not keep
NOT_KEPT.setflags(write=False)
# From this d on, AdaMM's update runs compiled (``_update_kernel``, the same bits in one pass over
# the vectors); below it numpy's path stays, where it costs less than the compiled path's import
# costs a new process (benchmarks/bench_update.py, ``first_call_s``), unless the process has
# loaded the compiled path already (``load_compiled``).
COMPILED_FROM = 1 << 14
_loaded_for_every_size = False


@dataclass(frozen=True)
class AdaMMConfig:
    """Hyper-parameters that never change during a run (lr lives in the state: it is scheduled).

    ``normalizer="v_hat"`` is AdaMM as published.  ``"v"`` divides by sqrt(v) instead, which
    reproduces the reference code of the ZO-AdaMM/AdaMM comparison paper (Adam without bias
    correction); use it only to compare against that paper.
    """

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    normalizer: str = "v_hat"

    def __post_init__(self) -> None:
        unit_interval("beta1", self.beta1)
        unit_interval("beta2", self.beta2)
        positive_float("eps", self.eps)
        if not np.float32(self.eps) > 0:  # the update adds it in float32: 0 there divides by 0
            raise InvalidArgument(f"eps must be at least float32's smallest positive value (1.4e-45), got {self.eps!r}")
        one_of("normalizer", self.normalizer, NORMALIZERS)


@dataclass
class AdaMMState:
    """Parameters and moments at ``step``; float32 vectors of one length, except that a vector
    the session's method does not keep (``zoadamm.methods.STATE_VECTORS``) is empty."""

    x: np.ndarray
    m: np.ndarray
    v: np.ndarray
    v_hat: np.ndarray
    step: int = 0
    _scratch: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def start(cls, x0: np.ndarray, keeps: tuple[str, ...] = VECTORS) -> AdaMMState:
        """Fresh state at ``x0`` with zero moments; the moments not in ``keeps`` stay empty.

        Raises:
            InvalidArgument: ``x0`` is empty, not one-dimensional, or not finite.
        """
        x = np.array(x0, dtype=np.float32, copy=True)
        if x.ndim != 1 or x.size == 0:
            raise InvalidArgument("x0 must be a non-empty vector")
        finite_values("x0", x)
        m, v, v_hat = (np.zeros_like(x) if name in keeps else NOT_KEPT for name in VECTORS[1:])
        return cls(x=x, m=m, v=v, v_hat=v_hat)

    @property
    def dim(self) -> int:
        return self.x.size

    def copy(self) -> AdaMMState:
        return AdaMMState(self.x.copy(), self.m.copy(), self.v.copy(), self.v_hat.copy(), self.step)

    def scratch(self) -> np.ndarray:
        """A reusable float32 work vector: allocating d floats per step costs page faults."""
        if self._scratch is None:
            self._scratch = np.empty_like(self.x)
        return self._scratch


def check_step(state: AdaMMState, gradient: np.ndarray, lr: float, needs: tuple[str, ...] = ("x",)) -> None:
    """Raises InvalidArgument unless ``gradient`` is float32 of x's shape, lr > 0 and the state
    holds the vectors ``needs`` at x's length (the compiled loops read them all)."""
    positive_float("lr", lr)
    if gradient.dtype != np.float32 or gradient.shape != state.x.shape:
        raise InvalidArgument(f"gradient must be float32 of shape {state.x.shape}")
    if any(getattr(state, name).size != state.dim for name in needs):
        raise InvalidArgument(f"this step needs {', '.join(needs)} of x's length {state.dim} "
                              f"(a state of another method?)")


def runs_compiled(state: AdaMMState) -> bool:
    """Whether a step of this state takes the compiled loop (``COMPILED_FROM``, ``load_compiled``)."""
    return state.dim >= COMPILED_FROM or _loaded_for_every_size


def load_compiled() -> None:
    """Load the compiled updates now, and take them at every d from here on in this process.

    For a long-lived process such as the service: it pays numba's import and the cached machine
    code once (about a second), and every step after costs less than numpy's dozen calls, at any
    size.  The bits are numpy's either way."""
    global _loaded_for_every_size
    kernel, one = compiled(), np.zeros(1, np.float32)
    rates = compiled_rates(AdaMMConfig(), 1.0, 1.0)  # Adam reads one rate more
    for metric in (None, one.copy()):  # each signature's first call loads its machine code
        kernel.update(one.copy(), one.copy(), one.copy(), one.copy(), one.copy(), metric, rates, True)
        kernel.adam_update(one.copy(), one.copy(), one.copy(), one.copy(), metric, rates)
    _loaded_for_every_size = True


def step_compiled(state: AdaMMState, constraint: FeasibleSet | None,
                  update: Callable[[np.ndarray | None], None]) -> None:
    """A compiled ``update(metric)``, then the projection and the step's count: the loop writes
    the metric h only where a set's projection needs it (``metric`` None otherwise)."""
    metric = None if constraint is None else state.scratch()
    update(metric)
    descend(state, None, constraint, metric)


def compiled_rates(config: AdaMMConfig, lr: float, *more: float) -> np.ndarray:
    """(b1, 1 - b1, b2, 1 - b2, eps, lr, *more) for the compiled loops, each rounded to float32
    as numpy's path rounds it."""
    return np.array([config.beta1, 1.0 - config.beta1, config.beta2, 1.0 - config.beta2, config.eps, lr, *more],
                    dtype=np.float32)


def adamm_update(
    state: AdaMMState, gradient: np.ndarray, lr: float, config: AdaMMConfig, constraint: FeasibleSet | None = None
) -> None:
    """Apply one AdaMM step in place and advance ``state.step``.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g*g;  v_hat = max(v_hat, v);  h = sqrt(v_hat) + eps
    x = P_{X,h}(x - lr * (m / h)),   P_{X,h}(a) = argmin over x in X of sum_i h_i (x_i - a_i)^2

    ``gradient`` may be overwritten (numpy's path uses it as a work buffer).

    Raises:
        InvalidArgument: the gradient has the wrong shape or dtype, lr is not positive, or the
            state lacks a moment (a state of another method).
    """
    check_step(state, gradient, lr, needs=VECTORS)
    if runs_compiled(state):
        rates, amsgrad = compiled_rates(config, lr), config.normalizer == "v_hat"
        step_compiled(state, constraint, lambda metric: compiled().update(
            state.x, state.m, state.v, state.v_hat, gradient, metric, rates, amsgrad))
        return
    work = update_moments(state, gradient, config)
    np.maximum(state.v_hat, state.v, out=state.v_hat)
    denominator = state.v_hat if config.normalizer == "v_hat" else state.v
    np.sqrt(denominator, out=work)
    work += np.float32(config.eps)
    np.divide(state.m, work, out=gradient)
    gradient *= np.float32(lr)
    descend(state, gradient, constraint, work)  # work holds h, the metric of this step


def update_moments(state: AdaMMState, gradient: np.ndarray, config: AdaMMConfig) -> np.ndarray:
    """m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g*g, in place; returns the state's work vector."""
    work = state.scratch()
    state.m *= np.float32(config.beta1)
    np.multiply(gradient, np.float32(1.0 - config.beta1), out=work)
    state.m += work
    np.multiply(gradient, gradient, out=work)
    work *= np.float32(1.0 - config.beta2)
    state.v *= np.float32(config.beta2)
    state.v += work
    return work


def descend(state: AdaMMState, step: np.ndarray | None, constraint: FeasibleSet | None,
            weights: np.ndarray | None = None) -> None:
    """x = P_X(x - step) in the metric ``weights`` (None: Euclidean; ``step`` None: x has taken
    its step already), and advance ``state.step``."""
    if step is not None:
        state.x -= step
    if constraint is not None:
        constraint.project_in_step(state.x, weights=weights, out=state.x)
    state.step += 1


def compiled():
    """The compiled update, imported on the first step of a large state (numba's import costs a
    process that never takes one nothing).  A Ctrl-C waits for that import: numba interrupted
    halfway stays half made in the process, and every later step fails."""
    global _KERNEL
    if _KERNEL is None:  # an import statement, which waits for a module another thread is making
        with held_interrupt():
            from . import _update_kernel
        _KERNEL = _update_kernel
    return _KERNEL


_KERNEL: ModuleType | None = None  # the compiled update's module, once made
