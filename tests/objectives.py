"""Test objectives shared by every test folder (pytest puts this folder on the import path).

Expected numbers in the tests come from running these in process, never from constants.
"""

from __future__ import annotations

import numpy as np

from zoadamm import Ball, Box, FeasibleSet

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


def feasible_sets(dim: int) -> dict:
    """One set of each kind at ``dim`` (vector bounds and centers where a kind allows them), by
    name, with None for R^d.  The test quadratic's minimum lies outside each, so they bind."""
    ramp = np.linspace(0.25, 1.0, dim)
    return {
        "none": None,
        "box": FeasibleSet(box=Box(-0.5, ramp)),
        "inf": FeasibleSet(ball=Ball("inf", 0.1, 0.4)),
        "2": FeasibleSet(ball=Ball("2", ramp / 10, 0.6)),
        "box+2": FeasibleSet(box=Box(-0.3, 0.3), ball=Ball("2", 0.0, 0.5)),
    }


def feasible_x0(constraint, dim: int) -> np.ndarray:
    """A start point inside ``constraint``: the test x0 projected onto it."""
    x0 = x0_for(dim)
    return x0 if constraint is None else constraint.project(x0)
