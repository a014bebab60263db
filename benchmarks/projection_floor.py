"""The least an exact projection onto an l2 ball in a diagonal metric can cost, for
``bench_projection.py``: the memory it must stream, at the fastest this machine streams it.

From a point a outside the ball, any exact method reads a, the center c and the weights h at
least three times: once to learn that a is outside (and anything it may keep about the root),
once more to evaluate ||x(lam) - c|| at some lam > 0 (the root has no closed form when the
weights differ, so the value at the final lam must be computed), and once to write x.  The
floor is those three passes as compiled fast-math loops that do almost no arithmetic: no real
projection can stream the same bytes faster.  With ``threads``, each pass is cut into that many
ranges run at once, as the projection's passes are from d = 2^18 on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np


@numba.njit(fastmath=True, nogil=True, error_model="numpy")
def _read(a, c, h):  # pragma: no cover - compiled
    total = 0.0
    for i in range(a.size):
        total += (np.float64(a[i]) - np.float64(c[i])) * np.float64(h[i])
    return total


@numba.njit(fastmath=True, nogil=True, error_model="numpy")
def _write(a, c, h, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = c[i] + (a[i] - c[i]) * h[i]


_pool: ThreadPoolExecutor | None = None


def three_passes(a: np.ndarray, c: np.ndarray, h: np.ndarray, out: np.ndarray, threads: int = 1) -> None:
    """Read (a, c, h) twice, then read them again and write ``out``: the floor's passes
    (``c`` a vector, as the benchmark's ball has), each on ``threads`` threads."""
    global _pool
    edges = [a.size * k // threads for k in range(threads + 1)]
    parts = [slice(edges[k], edges[k + 1]) for k in range(threads)]
    if threads > 1 and _pool is None:
        _pool = ThreadPoolExecutor(threads - 1)

    def each(run) -> None:
        others = [_pool.submit(run, part) for part in parts[1:]] if _pool is not None and threads > 1 else []
        run(parts[0])
        for other in others:
            other.result()

    each(lambda s: _read(a[s], c[s], h[s]))
    each(lambda s: _read(a[s], c[s], h[s]))
    each(lambda s: _write(a[s], c[s], h[s], out[s]))
