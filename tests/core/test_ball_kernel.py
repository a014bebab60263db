"""The compiled passes of the l2-ball projection compute numpy's bits: the same arithmetic
written as numpy operations (below, the reference) gives the same sums and the same points,
on one block and several, with and without a box, weights, a vector center, float32 and
float64 results."""

from __future__ import annotations

import numpy as np
import pytest

from zoadamm import _ball_kernel as kernel
from zoadamm.projection import _Ball

BLOCK = kernel.BLOCK


def reference_terms(a, c, h, lo, hi, boxed, lam):
    """x(lam) - c, h + lam, x(lam) and the free mask, as numpy operations on whole vectors."""
    wide = a.astype(np.float64)
    z = np.subtract(a, c, dtype=np.float64)
    h = np.broadcast_to(np.asarray(h, np.float64), z.shape)
    denominator = h + lam
    shift = z.copy() if lam == 0 else z * h / denominator
    point = wide.copy() if lam == 0 else shift + np.asarray(c, np.float64)
    held = np.minimum(np.maximum(point, lo), hi)
    free = (held == point).astype(np.float64)
    if boxed:
        shift = held - np.asarray(c, np.float64)
    return shift, denominator, held, free


def reference_evaluate(a, c, h, lo, hi, boxed, lam):
    shift, denominator, _, free = reference_terms(a, c, h, lo, hi, boxed, lam)
    squares, slopes = shift * shift, shift * shift / denominator * free
    squared = slope = 0.0
    for start in range(0, a.size, BLOCK):  # numpy's pairwise sum per block, blocks in order
        squared += float(np.add.reduce(squares[start:start + BLOCK]))
        slope += float(np.add.reduce(slopes[start:start + BLOCK]))
    return squared, slope


def reference_write(a, c, h, lo, hi, boxed, lam, dtype):
    shift, _, point, _ = reference_terms(a, c, h, lo, hi, boxed, lam)
    out = point.astype(dtype)
    if dtype == np.float32:  # one float32 back toward c where rounding moved away from it
        wide = out.astype(np.float64)
        outward = ((wide - point) * shift > 0) & (wide != 0)
        toward_zero = (shift > 0) == (wide > 0)
        out.view(np.int32)[:] += np.where(outward, np.where(toward_zero, -1, 1), 0).astype(np.int32)
    return out


def cases():
    rng = np.random.default_rng(17)
    for dim in (1, 7, 9, 129, BLOCK, 2 * BLOCK + 13):
        a = (rng.standard_normal(dim) * 3).astype(np.float32)
        weights = np.exp(rng.uniform(-3, 3, dim)).astype(np.float32)
        center = (rng.standard_normal(dim) * 0.1).astype(np.float32)
        lower = rng.uniform(-4, -0.5, dim).astype(np.float32)
        for c in (np.float32(0.25), center):
            for h in (None, weights):
                for box in (None, (np.float32(-1.0), np.float32(1.0)), (lower, lower + np.float32(3))):
                    yield dim, a, c, h, box


@pytest.mark.parametrize("lam", [0.0, 0.37, 12.5])
def test_the_passes_compute_numpys_bits(lam):
    checked = 0
    for dim, a, c, h, box in cases():
        lo, hi = box if box is not None else (None, None)
        ball = _Ball(a, c, h, lo, hi)
        inputs = (c, 1.0 if h is None else h, -np.inf if lo is None else lo, np.inf if hi is None else hi,
                  box is not None, lam)
        assert ball.evaluate(lam) == reference_evaluate(a, *inputs), (dim, box is not None)
        for dtype in (np.float32, np.float64):
            out = np.empty(dim, dtype)
            ball.write(lam, out)
            assert out.tobytes() == reference_write(a, *inputs, dtype).tobytes(), (dim, dtype)
        checked += 1
    assert checked == 6 * 2 * 2 * 3
