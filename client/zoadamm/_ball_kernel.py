"""The compiled loops of the l2-ball projection (``projection.py``).

numpy spends a pass over the d coordinates on every operation, a dozen per evaluation of
||x(lam) - c||^2; here each evaluation is one pass, and writing x(lam) another.  The arithmetic
is numpy's, operation for operation, so the results are the bits numpy computes:

- every coordinate in float64, in the order ``_coordinate`` gives;
- each block of ``BLOCK`` values summed with numpy's own pairwise summation (8 partial sums
  over leaves of 128, halves rounded to multiples of 8), the blocks' sums added in order.

No fast-math: LLVM neither reorders nor contracts floating-point operations without it, so the
bits do not depend on the machine's vector width either.  Compiled on first use and cached
beside this file (numba's ``cache=True``), so a process pays for compiling once per install.

Arguments shared by both loops: ``a`` (the point); ``c`` (the center), ``h`` (the weights) and
``lo``, ``hi`` (the box's sides), each a number or d numbers (numba compiles a loop for each
kind: a vector read with a stride of 0 would keep the loop from vectorising); the Euclidean
metric is the weight 1, and no box is (-inf, inf) with ``boxed`` false; ``lam`` (the
multiplier).  ``error_model="numpy"``: a division by zero gives inf or NaN, as in numpy, where
Python's model would test every division and keep the loop from vectorising.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

BLOCK = 1 << 15
_LEAF = 128  # numpy's PW_BLOCKSIZE


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _leaf(v):  # pragma: no cover - compiled
    """numpy's sum of at most 128 values: in order below 8, else 8 partial sums."""
    n = v.size
    if n < 8:
        total = 0.0
        for i in range(n):
            total += v[i]
        return total
    r0, r1, r2, r3, r4, r5, r6, r7 = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
    for k in range(1, n // 8):
        j = 8 * k
        r0 += v[j]
        r1 += v[j + 1]
        r2 += v[j + 2]
        r3 += v[j + 3]
        r4 += v[j + 4]
        r5 += v[j + 5]
        r6 += v[j + 6]
        r7 += v[j + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(n - n % 8, n):
        total += v[i]
    return total


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _whole_block(v):  # pragma: no cover - compiled
    """``_pairwise`` of exactly ``BLOCK`` values, where the halves are a perfect binary tree over
    leaves of 128: the leaves' sums, then each level's pairs added, as the recursion adds them."""
    sums = np.empty(BLOCK // _LEAF)
    for leaf in range(sums.size):
        sums[leaf] = _leaf(v[leaf * _LEAF:(leaf + 1) * _LEAF])
    size = sums.size
    while size > 1:
        size //= 2
        for k in range(size):
            sums[k] = sums[2 * k] + sums[2 * k + 1]
    return sums[0]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pairwise(v):  # pragma: no cover - compiled
    """numpy's pairwise sum of v (``pairwise_sum_DOUBLE``): halves rounded down to a multiple
    of 8, down to leaves of at most 128, added as the recursion would add them.  Walked with a
    stack of its own: numba's cache does not hold recursive functions."""
    if v.size <= _LEAF:
        return _leaf(v)
    if v.size == BLOCK:
        return _whole_block(v)
    starts = np.empty(64, np.int64)
    sizes = np.empty(64, np.int64)
    visits = np.zeros(64, np.int64)  # 0: go left, 1: go right, 2: add the halves' sums
    sums = np.empty(64)
    starts[0], sizes[0] = 0, v.size
    top, held = 0, 0
    while top >= 0:
        start, size = starts[top], sizes[top]
        if size <= _LEAF:
            sums[held] = _leaf(v[start:start + size])
            held += 1
            top -= 1
            continue
        half = size // 2
        half -= half % 8
        if visits[top] == 2:
            sums[held - 2] = sums[held - 2] + sums[held - 1]
            held -= 1
            top -= 1
            continue
        visits[top] += 1
        top += 1
        visits[top] = 0
        if visits[top - 1] == 1:
            starts[top], sizes[top] = start, half
        else:
            starts[top], sizes[top] = start + half, size - half
    return sums[0]


def _value(v, i):  # pragma: no cover - compiled: the i-th of d values, or the one value
    raise NotImplementedError


@overload(_value)
def _value_of(v, i):
    if isinstance(v, types.Array):
        return lambda v, i: np.float64(v[i])
    return lambda v, i: np.float64(v)


def _part(v, start, stop):  # pragma: no cover - compiled: a block of d values, or the one value
    raise NotImplementedError


@overload(_part)
def _part_of(v, start, stop):
    if isinstance(v, types.Array):
        return lambda v, start, stop: v[start:stop]
    return lambda v, start, stop: v


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _coordinate(i, a, c, h, lo, hi, boxed, lam):  # pragma: no cover - compiled
    """(x_i(lam) - c_i, h_i + lam, x_i(lam), 1.0 where the box does not hold x_i else 0.0).
    Selects, not branches, so that the loops around it vectorise."""
    point_a = np.float64(a[i])
    center = _value(c, i)
    weight = _value(h, i)
    z = point_a - center
    denominator = weight + lam  # = weight at lam = 0
    moved = z * weight / denominator
    shift = z if lam == 0.0 else moved  # a itself at lam = 0: the ratio is 1, even for a weight 0
    point = point_a if lam == 0.0 else moved + center
    lower, upper = _value(lo, i), _value(hi, i)
    held = lower if point < lower else point
    held = upper if held > upper else held
    free = 1.0 if held == point else 0.0  # NaN: 0.0, as numpy's equal gives
    shift = held - center if boxed else shift
    return shift, denominator, held, free


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block_terms(a, c, h, lo, hi, boxed, lam, squares, slopes):  # pragma: no cover - compiled
    """The terms of both sums over one block (its slices: indices from 0 keep numba from testing
    each for a negative one, which would turn the loads into gathers)."""
    for i in range(a.size):
        shift, denominator, _, free = _coordinate(i, a, c, h, lo, hi, boxed, lam)
        square = shift * shift
        squares[i] = square
        slopes[i] = square / denominator * free  # free is 1.0 without a box


@numba.njit(cache=True, nogil=True, error_model="numpy")
def evaluate(a, c, h, lo, hi, boxed, lam):  # pragma: no cover - compiled
    """(||x(lam) - c||^2, sum over free i of (x_i - c_i)^2 / (h_i + lam)): one pass."""
    squares = np.empty(min(a.size, BLOCK))
    slopes = np.empty(min(a.size, BLOCK))
    squared = 0.0
    slope = 0.0
    for start in range(0, a.size, BLOCK):
        stop = min(a.size, start + BLOCK)
        n = stop - start
        _block_terms(a[start:stop], _part(c, start, stop), _part(h, start, stop), _part(lo, start, stop),
                     _part(hi, start, stop), boxed, lam, squares[:n], slopes[:n])
        squared += _pairwise(squares[:n])
        slope += _pairwise(slopes[:n])
    return squared, slope


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block_write(a, c, h, lo, hi, boxed, lam, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = _coordinate(i, a, c, h, lo, hi, boxed, lam)[2]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block_write_narrow(a, c, h, lo, hi, boxed, lam, bits):  # pragma: no cover - compiled
    for i in range(a.size):
        shift, _, point, _ = _coordinate(i, a, c, h, lo, hi, boxed, lam)
        rounded = np.float32(point)  # to nearest
        wide = np.float64(rounded)
        outward = (wide - point) * shift > 0 and wide != 0
        step = -1 if (shift > 0) == (wide > 0) else 1
        bits[i] = rounded.view(np.int32) + (step if outward else 0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def write(a, c, h, lo, hi, boxed, lam, out, bits):  # pragma: no cover - compiled
    """x(lam) into ``out``, one pass.  A float32 ``out`` (``bits`` its int32 view, else None)
    rounds to nearest, then one float32 back toward c where that rounding moved the point away
    from it (never past c, itself a float32): -1 on the bits of a finite nonzero float32 steps
    toward 0, +1 away from it."""
    for start in range(0, a.size, BLOCK):
        stop = min(a.size, start + BLOCK)
        parts = (a[start:stop], _part(c, start, stop), _part(h, start, stop), _part(lo, start, stop),
                 _part(hi, start, stop), boxed, lam)
        if bits is None:
            _block_write(*parts, out[start:stop])
        else:
            _block_write_narrow(*parts, bits[start:stop])
