"""Test objectives shared by every test folder (pytest puts this folder on the import path).

Expected numbers in the tests come from running these in process, never from constants.
"""

from __future__ import annotations

import numpy as np

TARGET_SEED = 1234


def quadratic_with_gradient(dim: int):
    """(f, grad) of a shifted quadratic with uneven curvature, evaluated in float64; min 0."""
    rng = np.random.default_rng(TARGET_SEED)
    target = rng.normal(size=dim)
    scale = rng.uniform(0.5, 3.0, size=dim)

    def f(x: np.ndarray) -> float:
        d = np.asarray(x, dtype=np.float64) - target
        return float(np.sum(scale * d * d))

    def grad(x: np.ndarray) -> np.ndarray:
        return (2 * scale * (np.asarray(x, dtype=np.float64) - target)).astype(np.float32)

    return f, grad


def quadratic(dim: int):
    return quadratic_with_gradient(dim)[0]


def x0_for(dim: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


def bits(x: np.ndarray) -> bytes:
    """The exact float32 bytes, for bit-for-bit comparisons."""
    return np.ascontiguousarray(x, dtype="<f4").tobytes()
