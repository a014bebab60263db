"""What a request carries, turned into checked arrays: every check here raises ``Invalid`` (422)
before anything is journaled."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoadamm import InvalidArgument, Optimizer, SessionConfig, wire

from ..errors import Invalid


@dataclass(frozen=True)
class ZOValues:
    step: int
    f_x: float | list[float] | None  # None: central differences need no f(x)
    f_plus: list[float]
    f_minus: list[float] | None = None
    indices: list[int] | None = None  # the directions this report covers; None means all


def session_config(config: dict, vectors: dict[str, np.ndarray] | None = None) -> SessionConfig:
    try:
        return SessionConfig.from_dict(config, vectors)
    except (InvalidArgument, TypeError) as exc:
        raise Invalid(str(exc)) from None


def start_optimizer(config: SessionConfig, x0: np.ndarray, name: str = "x0") -> Optimizer:
    return invalid_on_error(Optimizer.start, config, vector(name, x0, config.dim), name)


def as_started(config: SessionConfig, x: np.ndarray) -> np.ndarray:
    """``x`` as a session started there holds it: moved onto X where it lies outside by float32's
    rounding alone (``FeasibleSet.admit``), so that the x0 a session was started from is its x
    when sent again; a point further outside is left as it is (and differs from the session's)."""
    if config.constraint is None:
        return x
    moved = x.copy()
    try:
        config.constraint.admit(moved, "x")
    except InvalidArgument:
        return x
    return moved


def vector(name: str, values: np.ndarray, dim: int) -> np.ndarray:
    given = values
    with np.errstate(over="ignore"):  # values beyond float32 become inf and are refused below
        values = np.asarray(values, dtype=np.float32).reshape(-1)
    if values.size != dim:
        raise Invalid(f"{name} has {values.size} values; the session has dim {dim}")
    if not np.all(np.isfinite(values)):
        at = int(np.argmin(np.isfinite(values)))
        raise Invalid(f"{name} contains NaN, infinite or float32-overflowing values (the first: {name}[{at}] = "
                      f"{float(np.asarray(given, np.float64).reshape(-1)[at])!r})")
    return values


def zo_arrays(values: ZOValues, config: SessionConfig):
    q = config.directions
    n = q if values.indices is None else len(values.indices)
    if values.indices is not None:
        if n == 0 or len(set(values.indices)) != n or not all(0 <= i < q for i in values.indices):
            raise Invalid(f"indices must be distinct directions in [0, {q})")
    f_plus = np.asarray(values.f_plus, dtype=np.float64).reshape(-1)
    if f_plus.size != n:
        raise Invalid(f"f_plus has {f_plus.size} value{'s' * (f_plus.size != 1)}; expected {n}")
    f_x = None if values.f_x is None else np.asarray(values.f_x, dtype=np.float64).reshape(-1)
    if f_x is not None and f_x.size not in (1, n):
        raise Invalid(f"f_x has {f_x.size} value{'s' * (f_x.size != 1)}; expected 1"
                      + f" or {n} (one per value of f_plus)" * (n > 1))
    f_x = None if f_x is None else f_x.copy() if f_x.size == n else np.full(n, f_x[0])
    central = config.difference == "central"
    if values.f_minus is None and central:
        raise Invalid("this session uses central differences: f_minus is required")
    if values.f_minus is not None and not central:
        raise Invalid("f_minus is only used by sessions with difference='central'")
    if f_x is None:
        if not central:
            raise Invalid(f"f_x is required for forward differences, and this tell has it missing or "
                          f"{wire.NULL_NUMBER}")
        f_x = np.zeros(n)
    f_minus = None if values.f_minus is None else np.asarray(values.f_minus, dtype=np.float64).reshape(-1)
    if f_minus is not None and f_minus.size != n:
        raise Invalid(f"f_minus has {f_minus.size} value{'s' * (f_minus.size != 1)}; expected {n}")
    for name, arr in (("f_x", f_x), ("f_plus", f_plus), ("f_minus", f_minus)):
        if arr is not None and not np.isfinite(arr).all():
            raise Invalid(f"{name} contains NaN or infinite values")
    return f_x, f_plus, f_minus


def invalid_on_error(fn, *args):
    try:
        return fn(*args)
    except InvalidArgument as exc:
        raise Invalid(str(exc)) from None
