"""Exact projections onto a box and an l2 ball under a diagonal metric (``docs/constraints.md``).

    P(a) = argmin over x in X of  sum_i h_i (x_i - a_i)^2,   h_i > 0  (h = 1: Euclidean)

- Box (an l-inf ball is one): clip each coordinate.  Objective and set are separable, so
  clipping is the exact projection under every diagonal metric.
- l2 ball ||x - c|| <= r, alone or cut by a box [lower, upper]: for a multiplier lam >= 0 the
  Lagrangian separates, x_i(lam) = clip(c_i + h_i (a_i - c_i) / (h_i + lam), lower_i, upper_i),
  and ||x(lam) - c|| falls monotonically from ||clip(a) - c|| (lam = 0) to dist(c, box) (lam ->
  infinity).  When a is outside, lam solves ||x(lam) - c|| = r: safeguarded Newton on
  1 / ||x(lam) - c|| - 1 / r, the secular equation of More and Sorensen (1983), concave without
  a box, so its iterates rise monotonically to the root and converge quadratically; near the
  root a Halley step (cubic) from the same pass ends it.  Without a box and from d =
  ``MOMENTS_FROM`` on, the search starts at the root of a Gauss rule built from the first pass's
  moments (``_ball_start``), close enough that one evaluation usually ends it: 3 passes over d.

Determinism: every sum has one fixed order, in lanes and blocks (``_ball_kernel``), with no BLAS
and no fast-math; the start uses only correctly rounded operations.  Two processes with the same
inputs get the same bits.  From ``PARALLEL_FROM`` coordinates on, a pass's blocks are shared
among up to ``THREADS`` threads (the compiled passes release the GIL): each block's sums are its
own and are added in block order afterwards, so the bits do not depend on how many threads ran.
Feasibility survives rounding: lam is solved for the radius shrunk by ``MARGIN``, and a float32
result rounds each coordinate toward the center (never away), so it stays in the ball, and in
the box, whose bounds are float32.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np

from . import _ball_start
from ._ball_steps import between, step_to_root
from ._interrupts import held_interrupt
from .projection_threads import setting as _threads_setting

MARGIN = 2.0**-44  # relative: the radius lam is solved for, below rounding noise in the sums
# With a box, a lam is final only once evaluated inside the ball with a step to the root this
# small (relative): ||x(lam) - c|| has a kink wherever a coordinate meets a face of the box,
# where a small step says nothing of how far the root still is.  From outside, a step this small
# is taken twice over and a little more, to land inside.
_BOXED_DONE = 2.0**-36
_BOXED_JUMP = 2.0**-38
_MAX_ITERATIONS = 200  # bisection of a float64 bracket ends well within this
# From this d on, the weighted ball starts from the moments' root (``_ball_start``): below it, the
# start's fixed cost in Python exceeds the two passes over d it saves, and Newton starts at 0.
MOMENTS_FROM = 1 << 14
# From this d on, a pass runs on up to THREADS threads, each taking a range of whole blocks: below
# it, handing work to another thread costs more than the part of a pass it would take over.
PARALLEL_FROM = 1 << 18


def threads() -> int:
    """``THREADS``, read on first use, not at import: a bad value (ValueError) is then a program's
    to report (the service's start refuses it in one line), not a traceback of ``import zoadamm``."""
    if "THREADS" not in globals():
        globals()["THREADS"] = _threads_setting()
    return int(globals()["THREADS"])


def __getattr__(name: str) -> int:  # ``projection.THREADS``, read (or set, by a benchmark) as before
    if name == "THREADS":
        return threads()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def clip_into(x: np.ndarray, lower, upper) -> None:
    """Clip ``x`` into [lower, upper] in place (bounds: scalars or arrays of x's length)."""
    if np.ndim(lower) == 0 and np.ndim(upper) == 0:
        np.clip(x, lower, upper, out=x)  # numpy's vectorised path for scalar bounds
    else:
        # np.clip with array bounds takes a slow generic loop; two ufuncs take numpy's fast ones
        np.maximum(x, lower, out=x)
        np.minimum(x, upper, out=x)


def project_ball(
    a: np.ndarray,
    center,
    radius: float,
    *,
    weights: np.ndarray | None = None,
    lower=None,
    upper=None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The projection of ``a`` onto {||x - center|| <= radius}, cut by [lower, upper] if given,
    under diag(weights) (Euclidean when None).  ``out`` may be ``a`` itself.

    ``center``, ``lower`` and ``upper`` are float32 scalars or vectors; ``weights`` must be
    positive.  The caller guarantees that the set is not empty (dist(center, box) < radius).
    """
    out = np.empty_like(a) if out is None else out
    ball = _Ball(a, center, weights, lower, upper)
    # ||clip(a) - c|| does not depend on the weights: the first pass decides whether a point is
    # inside (the common case, which writes nothing but the clipping) and, if not, gives where
    # the root search starts.  NaN falls through unchanged, as a point inside would.
    weighted = weights is not None and lower is None and a.size >= MOMENTS_FROM
    if weighted:  # the moments of the weights: a start near the root, without a division
        moments = ball.moments()
        squared, at = moments[0], None
    else:  # Newton starts at 0 from the values there
        at = ball.evaluate(0.0)
        squared = at[0]
    if not squared > radius * radius:
        if out is not a:
            np.copyto(out, a)
        if lower is not None:
            clip_into(out, lower, upper)
        return out
    target = radius * (1.0 - MARGIN)
    if weights is None and lower is None:  # the Euclidean ball: a scaling, in closed form
        ball.write(math.sqrt(squared) / target - 1.0, out)
        return out
    first = _ball_start.start(moments, target) if weighted else 0.0
    if first is None:  # degenerate moments: Newton from 0, one pass more
        first, at = 0.0, ball.evaluate(0.0)
    ball.write(ball.solve(target, first, at), out)
    return out


class _Ball:
    """One projection's inputs, in the form the compiled passes take them (``_ball_kernel``)."""

    def __init__(self, a, center, weights, lower, upper) -> None:
        self.a = np.ascontiguousarray(a).reshape(-1)
        self.weights = weights
        boxed = lower is not None
        self.inputs = (_values(center), _values(1.0 if weights is None else weights),
                       _values(lower if boxed else -np.inf), _values(upper if boxed else np.inf), boxed)

    def moments(self) -> list[float]:
        """sum of (a_i - c_i)^2 h_i^j for j < ``_ball_kernel.MOMENTS`` (no box)."""
        kernel = _kernel()
        sums = self._summed(kernel.moments_blocks, kernel.MOMENTS, self.inputs[0], self.inputs[1])
        return [float(m) for m in sums]

    def evaluate(self, lam: float) -> tuple[float, float, float]:
        """(S, T1, T2) at lam: S = ||x(lam) - c||^2, T_k = sum over free i of (x_i - c_i)^2 / (h_i + lam)^k."""
        kernel = _kernel()
        squared, slope, curve = self._summed(kernel.evaluate_blocks, kernel.SUMS, *self.inputs, float(lam))
        return float(squared), float(slope), float(curve)

    def _summed(self, blocks_pass, width: int, *inputs) -> np.ndarray:
        """A pass's sums: ``blocks_pass`` over ranges of blocks, on several threads for a large
        d, each block's sums into its own row, then added in block order."""
        kernel = _kernel()
        sums = np.empty((kernel.blocks(self.a.size), width))
        _in_parts(sums.shape[0], lambda first, last: blocks_pass(self.a, *inputs, first, last, sums))
        return kernel.total(sums)

    def solve(self, target: float, lam: float, at: tuple[float, float, float] | None) -> float:
        """The lam > 0 with ||x(lam) - c|| = target, from a start below or above it (``at``: the
        values there when already evaluated, from lam = 0 outside).  Without a box the last step
        is not evaluated: ||x(lam) - c|| is smooth, so a small step leaves an error far below the
        radius' margin.  With one, the answer is a lam evaluated inside (``_BOXED_DONE``)."""
        low, high = 0.0, math.inf
        goal = target * target
        boxed, jump, was = self.inputs[4], _BOXED_JUMP, math.inf  # was: S at the last lam outside
        grow, shrink, cuts = 2.0, 0.5, 0  # doubling and halving, squared from the 8th cut on
        for _ in range(_MAX_ITERATIONS):
            if at is None:
                at = self.evaluate(lam)
                if at[0] > goal:
                    low = lam
                else:
                    high = lam
                if high < math.inf and high - low <= 4 * math.ulp(high):
                    break
            step, done = step_to_root(lam, *at, target)
            guess = lam + step
            if boxed and guess < math.inf:
                if at[0] <= goal and abs(step) <= _BOXED_DONE * lam:
                    return lam  # inside, and the root is no further than the step
                # outside and near, or stalled (S did not fall as lam rose: x - c rounds at c's
                # scale, |c| >> r): over the root.  A step rounded to 0 short of the root, or one
                # S cannot follow, leaves lam short by more than a jump may cover: each goes 16
                # times further
                if at[0] > goal:
                    stalled, was = at[0] >= was, at[0]
                    if stalled or 0 <= step <= jump * lam:
                        guess = lam + 2 * max(step, 0.0) + jump * lam
                        jump *= 16.0
            elif guess < math.inf and low <= guess <= high and abs(step) <= done * guess:
                return guess
            if not low < guess < high:  # a root far from the start is found in a few dozen cuts, not hundreds
                cuts += 1
                if high == math.inf:
                    guess, grow = max(grow * low, self._scale()), min(grow * grow, 2.0**64) if cuts >= 8 else grow
                elif low == 0.0:
                    guess, shrink = high * shrink, max(shrink * shrink, 2.0**-64) if cuts >= 8 else shrink
                else:
                    guess = between(low, high)
            lam, at = guess, None
        return high

    def _scale(self) -> float:
        """A multiplier of the weights' size, where bisection starts when Newton cannot (rare:
        computed only then)."""
        return 1.0 if self.weights is None else float(np.max(self.weights))

    def write(self, lam: float, out: np.ndarray) -> None:
        """x(lam) into ``out``: float64 as computed, float32 rounded toward the center."""
        kernel = _kernel()
        assert _LOADED is not None  # by _kernel() above
        write_pass = _LOADED[1].write

        flat = out.reshape(-1)
        bits = flat.view(np.int32) if flat.dtype == np.float32 else None
        c, h, lo, hi, boxed = self.inputs

        def write(first: int, last: int) -> None:
            part = slice(first * kernel.BLOCK, last * kernel.BLOCK)
            write_pass(self.a[part], _sliced(c, part), _sliced(h, part), _sliced(lo, part), _sliced(hi, part),
                         boxed, float(lam), flat[part], None if bits is None else bits[part])

        _in_parts(kernel.blocks(self.a.size), write)


def _sliced(value, part: slice):
    """A part of d values, or the one value."""
    return value if isinstance(value, float) else value[part]


_pool: tuple[int, ThreadPoolExecutor] | None = None  # (the process that made it, the pool)
_pool_lock = threading.Lock()


def _in_parts(count: int, run) -> None:
    """``run(first, last)`` over blocks 0 to ``count``: in one call below ``PARALLEL_FROM``
    coordinates, else in up to ``THREADS`` ranges of whole blocks, one of them in this thread."""
    parts = min(threads(), count) if count * _kernel().BLOCK >= PARALLEL_FROM else 1
    if parts <= 1:
        run(0, count)
        return
    edges = [count * k // parts for k in range(parts + 1)]
    others = [_threads().submit(run, edges[k], edges[k + 1]) for k in range(1, parts)]
    try:
        run(edges[0], edges[1])
    finally:
        # every part done before anything returns or raises: none may still write into out
        concurrent.futures.wait(others)
    for other in others:
        other.result()


def _threads() -> ThreadPoolExecutor:
    """The pool that takes the other parts of a pass, made on first use in this process (a pool
    made before a fork has no threads in the child)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(threads() - 1, thread_name_prefix="zoadamm-projection"))
        return _pool[1]


def _values(value):
    """A center, weights or a side of the box as the compiled passes read them: a float, or a
    contiguous vector of d values."""
    if np.ndim(value) == 0:
        return float(value)
    return np.ascontiguousarray(value).reshape(-1)


def _kernel():
    """The compiled passes, imported on the first projection onto a ball (numba's import and
    its cached machine code cost nothing to a session without one); a Ctrl-C waits for it, as
    for the update's (``adamm.compiled``)."""
    global _LOADED
    if _LOADED is None:  # an import statement, which waits for a module another thread is making
        with held_interrupt():
            from . import _ball_kernel, _ball_write
        _LOADED = _ball_kernel, _ball_write
    return _LOADED[0]


_LOADED: tuple[ModuleType, ModuleType] | None = None  # (_ball_kernel, _ball_write), once both are made


def squared_distance(a: np.ndarray, center) -> float:
    """||a - center||^2 in float64, summed as the projection sums (the same bits)."""
    return _Ball(a, center, None, None, None).evaluate(0.0)[0]
