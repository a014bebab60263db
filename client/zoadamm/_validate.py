"""Argument checks shared by the optimizer math; each raises ``InvalidArgument``."""

from __future__ import annotations

import math

import numpy as np

from .exceptions import InvalidArgument


def positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgument(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def unsigned64(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**64:
        raise InvalidArgument(f"{name} must be an integer in [0, 2**64), got {value!r}")
    return int(value)


def positive_float(name: str, value: float) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgument(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


def unit_interval(name: str, value: float) -> float:
    """A decay rate in [0, 1)."""
    if not isinstance(value, (int, float, np.floating)) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise InvalidArgument(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def finite_values(name: str, values: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise InvalidArgument(f"{name} contains NaN or infinite values")
    return values


def one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidArgument(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value
