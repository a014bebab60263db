"""The l2 ball's compiled passes (``_ball_kernel``, ``_ball_write``) loaded for every kind of
argument a session's set gives them, before a long-lived process serves.

numba loads (or, once per install, compiles) a pass's machine code at its first call with each
kind of argument: a center, a side of the box or the weights as a number or as d values, the
weights present or not, far quicker from numba's cache than compiled anew (docs/constraints.md
says how long each takes).  A service pays that at start (``zoadamm_service.main.prepare_process``),
not in the first tell of a session with a ball, while every other tell of the process waits.
"""

from __future__ import annotations

import numpy as np

from .constraints import Ball, Box, FeasibleSet
from .projection import MOMENTS_FROM


def load_compiled() -> None:
    """Project a point outside a ball of each kind, below and from the start from the moments."""
    for size in (2, MOMENTS_FROM):
        def vector(value: float, size: int = size) -> np.ndarray:
            return np.full(size, value, np.float32)

        for center in (0.0, vector(0.0)):
            for box in (None, Box(-1.0, 1.0), Box(vector(-1.0), 1.0), Box(-1.0, vector(1.0)),
                        Box(vector(-1.0), vector(1.0))):
                feasible = FeasibleSet(box, Ball("2", center, 1.0))
                for weights in (None, np.linspace(1.0, 2.0, size, dtype=np.float32)):
                    x = vector(3.0)
                    feasible.project_in_step(x, weights, out=x)
                    feasible.project(vector(3.0), weights)
                    feasible.violation(x)
