"""The compiled passes over the d coordinates of the l2-ball projection (``projection.py``).

Every pass reads a, c and h once: ``moments`` (at lam = 0, no division), ``evaluate`` (one
division per coordinate) and ``_ball_write.write`` (one division per coordinate, no sums).

The order of every sum is fixed, and the same on every machine (``tests/core/test_ball_kernel.py``
holds the passes to a plain numpy reference, bit for bit):

- the coordinates go in blocks of ``BLOCK``; within a block, coordinate i goes to lane
  i mod ``LANES``.  Each lane starts from 0.0 and adds, in index order, the sums of its terms in
  ``GROUP`` consecutive rows of ``LANES`` ((t0 + t1) + (t2 + t3): a quarter of the stores), then
  the block's rows left over, one by one;
- at the end of a block its lanes are folded in halves (lane k plus lane k + width/2, width
  from ``LANES`` down to 2) into the block's sums, and ``total`` adds those to the pass's sums,
  blocks in order.

So a block's sums depend on that block alone: the ``*_blocks`` passes compute any range of
blocks, and ranges computed at once by several threads (``projection.py``) give the bits of one
pass over all of them.

Lanes are an array of ``LANES`` values: the loop over them has no dependency from one lane to the
next, so LLVM's loop vectorizer runs it at the machine's width, without reordering any addition
(it only reorders a plain reduction under fast-math, which would make the bits depend on the
vector width).  No fast-math, and no threads inside a pass.  Compiled on first use and cached
beside this file (numba's ``cache=True``).

Arguments shared by the passes: ``a`` (the point); ``c`` (the center), ``h`` (the weights) and
``lo``, ``hi`` (the box's sides), each a number or d numbers (numba compiles a loop for each
kind); the Euclidean metric is the weight 1; ``boxed`` false skips the box (the plain ball does
no clipping); ``lam`` (the multiplier).  ``error_model="numpy"``: a division by zero gives
inf or NaN, as in numpy, where Python's model would test every division.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

BLOCK = 1 << 14
LANES = 256
GROUP = 4  # rows of LANES whose terms a lane sums pairwise before adding them: fewer stores
SPAN = GROUP * LANES
MOMENTS = 8  # sum of (a - c)^2 h^j for j < MOMENTS: the root's starting point (``projection``)
SUMS = 3  # what ``evaluate`` returns: S(lam) and the two next terms of its expansion


@numba.njit(cache=True, nogil=True)
def blocks(size):  # pragma: no cover - compiled
    """How many blocks of ``BLOCK`` coordinates cover ``size`` (the last one may be short)."""
    return -(-size // BLOCK)


def _value(v, i):  # pragma: no cover - compiled: the i-th of d values, or the one value
    raise NotImplementedError


@overload(_value)
def _value_of(v, i):
    if isinstance(v, types.Array):
        return lambda v, i: np.float64(v[i])
    return lambda v, i: np.float64(v)


def _part(v, start, stop):  # pragma: no cover - compiled: a slice of d values, or the one value
    raise NotImplementedError


@overload(_part)
def _part_of(v, start, stop):
    if isinstance(v, types.Array):
        return lambda v, start, stop: v[start:stop]
    return lambda v, start, stop: v


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fold(lanes, sums):  # pragma: no cover - compiled
    """Each row of ``lanes`` folded in halves into ``sums`` (one block's); the lanes back to 0."""
    for j in range(lanes.shape[0]):
        row = lanes[j]
        width = row.size
        while width > 1:
            width //= 2
            for k in range(width):
                row[k] = row[k] + row[k + width]
        sums[j] = row[0]
        row[:] = 0.0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def total(sums):  # pragma: no cover - compiled
    """The pass's sums: the blocks' sums (one row each) added from 0.0, blocks in order."""
    totals = np.zeros(sums.shape[1])
    for b in range(sums.shape[0]):
        for j in range(sums.shape[1]):
            totals[j] += sums[b, j]
    return totals


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _ratio(weight, lam):  # pragma: no cover - compiled
    """(h / (h + lam) as h q, q = 1 / (h + lam)): one division.  At lam = 0 the ratio is 1, even
    for a weight 0."""
    q = 1.0 / (weight + lam)
    return (1.0 if lam == 0.0 else weight * q), q


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _moments_row(a, c, h, lanes):  # pragma: no cover - compiled
    for k in range(a.size):
        z = np.float64(a[k]) - _value(c, k)
        term, weight = z * z, _value(h, k)
        for j in range(MOMENTS):
            lanes[j, k] += term
            term = term * weight


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _moments_group(a, c, h, lanes, terms):  # pragma: no cover - compiled
    """``GROUP`` rows of ``LANES``: each lane adds its four terms, summed pairwise.  (a - c)^2 and
    h go first into ``terms`` (2 x SPAN), read in order: the lanes' loop then reads four places
    SPAN apart from cache, where reading them from a, c and h was twelve streams from memory."""
    squares, weights = terms[0], terms[1]
    for k in range(SPAN):
        z = np.float64(a[k]) - _value(c, k)
        squares[k] = z * z
        weights[k] = _value(h, k)
    for k in range(LANES):
        p, q, r, t = squares[k], squares[k + LANES], squares[k + 2 * LANES], squares[k + 3 * LANES]
        pw, qw, rw, tw = weights[k], weights[k + LANES], weights[k + 2 * LANES], weights[k + 3 * LANES]
        for j in range(MOMENTS):  # unrolled by LLVM: MOMENTS is a constant
            lanes[j, k] += (p + q) + (r + t)
            p, q, r, t = p * pw, q * qw, r * rw, t * tw


@numba.njit(cache=True, nogil=True, error_model="numpy")
def moments_blocks(a, c, h, first, last, sums):  # pragma: no cover - compiled
    """Blocks ``first`` to ``last`` (excluded) of the moments pass: row b of ``sums`` (``MOMENTS``
    wide) receives block b's sums of (a_i - c_i)^2 h_i^j.  No division."""
    lanes = np.zeros((MOMENTS, LANES))
    terms = np.empty((2, SPAN))
    for b in range(first, last):
        start = b * BLOCK
        stop = min(a.size, start + BLOCK)
        grouped = start + (stop - start) // SPAN * SPAN
        for row in range(start, grouped, SPAN):
            _moments_group(a[row:row + SPAN], _part(c, row, row + SPAN), _part(h, row, row + SPAN), lanes, terms)
        for row in range(grouped, stop, LANES):
            end = min(stop, row + LANES)
            _moments_row(a[row:end], _part(c, row, end), _part(h, row, end), lanes)
        _fold(lanes, sums[b])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def moments(a, c, h):  # pragma: no cover - compiled
    """(sum of (a_i - c_i)^2 h_i^j for j < ``MOMENTS``): one pass over every block."""
    sums = np.empty((blocks(a.size), MOMENTS))
    moments_blocks(a, c, h, 0, sums.shape[0], sums)
    return total(sums)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _plain_terms(a, c, h, lam, k):  # pragma: no cover - compiled
    """(x_k - c_k)^2 and its slope's two terms: (x_k - c_k) = (a_k - c_k) h_k / (h_k + lam)."""
    ratio, q = _ratio(_value(h, k), lam)
    shift = (np.float64(a[k]) - _value(c, k)) * ratio
    square = shift * shift
    slope = square * q
    return square, slope, slope * q


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _boxed_terms(a, c, h, lo, hi, lam, k):  # pragma: no cover - compiled
    """As ``_plain_terms``, x clipped into the box; the slope's terms only where the box does not
    hold x_k (selects, not branches, so that the loop vectorises)."""
    ratio, q = _ratio(_value(h, k), lam)
    center = _value(c, k)
    point_a = np.float64(a[k])
    point = point_a if lam == 0.0 else (point_a - center) * ratio + center
    lower, upper = _value(lo, k), _value(hi, k)
    held = lower if point < lower else point
    held = upper if held > upper else held
    free = 1.0 if held == point else 0.0  # NaN: 0.0
    shift = held - center
    square = shift * shift
    slope = square * q * free
    return square, slope, slope * q


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _plain_row(a, c, h, lam, lanes):  # pragma: no cover - compiled
    for k in range(a.size):
        t = _plain_terms(a, c, h, lam, k)
        for j in range(SUMS):
            lanes[j, k] += t[j]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _boxed_row(a, c, h, lo, hi, lam, lanes):  # pragma: no cover - compiled
    for k in range(a.size):
        t = _boxed_terms(a, c, h, lo, hi, lam, k)
        for j in range(SUMS):
            lanes[j, k] += t[j]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _plain_group(a, c, h, lam, lanes, terms):  # pragma: no cover - compiled
    """As ``_moments_group``: (x - c) and 1 / (h + lam) go first into two rows of ``terms``, and
    the lanes' loop makes the three terms of ``_plain_terms`` from them, in its order."""
    shifts, reciprocals = terms[0], terms[1]
    for k in range(SPAN):
        ratio, q = _ratio(_value(h, k), lam)
        shifts[k] = (np.float64(a[k]) - _value(c, k)) * ratio
        reciprocals[k] = q
    for k in range(LANES):
        p, r, s, t = shifts[k], shifts[k + LANES], shifts[k + 2 * LANES], shifts[k + 3 * LANES]
        pq, rq, sq, tq = (reciprocals[k], reciprocals[k + LANES], reciprocals[k + 2 * LANES],
                          reciprocals[k + 3 * LANES])
        p, r, s, t = p * p, r * r, s * s, t * t  # the squares
        lanes[0, k] += (p + r) + (s + t)
        p, r, s, t = p * pq, r * rq, s * sq, t * tq  # the slopes
        lanes[1, k] += (p + r) + (s + t)
        lanes[2, k] += (p * pq + r * rq) + (s * sq + t * tq)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _boxed_group(a, c, h, lo, hi, lam, lanes, terms):  # pragma: no cover - compiled
    """``GROUP`` rows of ``LANES``, the three terms of ``_boxed_terms`` first into ``terms``
    (SUMS x SPAN): the clipping's selects vectorise in a loop of their own."""
    for k in range(SPAN):
        terms[0, k], terms[1, k], terms[2, k] = _boxed_terms(a, c, h, lo, hi, lam, k)
    for j in range(SUMS):
        t = terms[j]
        for k in range(LANES):
            lanes[j, k] += (t[k] + t[k + LANES]) + (t[k + 2 * LANES] + t[k + 3 * LANES])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def evaluate_blocks(a, c, h, lo, hi, boxed, lam, first, last, sums):  # pragma: no cover - compiled
    """Blocks ``first`` to ``last`` (excluded) of ``evaluate``: block b's three sums into row b
    of ``sums``."""
    lanes = np.zeros((SUMS, LANES))
    terms = np.empty((SUMS, SPAN))
    for b in range(first, last):
        start = b * BLOCK
        stop = min(a.size, start + BLOCK)
        grouped = start + (stop - start) // SPAN * SPAN
        for row in range(start, grouped, SPAN):
            parts = (a[row:row + SPAN], _part(c, row, row + SPAN), _part(h, row, row + SPAN))
            if boxed:
                _boxed_group(*parts, _part(lo, row, row + SPAN), _part(hi, row, row + SPAN), lam, lanes, terms)
            else:
                _plain_group(*parts, lam, lanes, terms)
        for row in range(grouped, stop, LANES):
            end = min(stop, row + LANES)
            parts = (a[row:end], _part(c, row, end), _part(h, row, end))
            if boxed:
                _boxed_row(*parts, _part(lo, row, end), _part(hi, row, end), lam, lanes)
            else:
                _plain_row(*parts, lam, lanes)
        _fold(lanes, sums[b])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def evaluate(a, c, h, lo, hi, boxed, lam):  # pragma: no cover - compiled
    """(S, T1, T2): S = ||x(lam) - c||^2, T_k = sum over free i of (x_i - c_i)^2 / (h_i + lam)^k
    (S' = -2 T1, S'' = 6 T2 without a box).  One pass over every block."""
    sums = np.empty((blocks(a.size), SUMS))
    evaluate_blocks(a, c, h, lo, hi, boxed, lam, 0, sums.shape[0], sums)
    return total(sums)
