"""The least an exact projection onto an l2 ball in a diagonal metric can cost, for
``bench_projection.py``: the memory it must stream, at the fastest this machine streams it.

From a point a outside the ball, any exact method reads a, the center c and the weights h at
least three times: once to learn that a is outside (and anything it may keep about the root),
once more to evaluate ||x(lam) - c|| at some lam > 0 (the root has no closed form when the
weights differ, so the value at the final lam must be computed), and once to write x.  The
floor is those three passes as compiled fast-math loops that do almost no arithmetic: no real
projection can stream the same bytes faster.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(fastmath=True, error_model="numpy")
def _read(a, c, h):  # pragma: no cover - compiled
    total = 0.0
    for i in range(a.size):
        total += (np.float64(a[i]) - np.float64(c[i])) * np.float64(h[i])
    return total


@numba.njit(fastmath=True, error_model="numpy")
def _write(a, c, h, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = c[i] + (a[i] - c[i]) * h[i]


def three_passes(a: np.ndarray, c: np.ndarray, h: np.ndarray, out: np.ndarray) -> None:
    """Read (a, c, h) twice, then read them again and write ``out``: the floor's passes
    (``c`` a vector, as the benchmark's ball has)."""
    _read(a, c, h)
    _read(a, c, h)
    _write(a, c, h, out)
