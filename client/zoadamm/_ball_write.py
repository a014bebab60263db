"""The write pass of the l2-ball projection (``projection.py``): x(lam) into ``out``, one pass
over a, c and h, one division per coordinate, and no sums (so no order to keep: the block-wise
sums are ``_ball_kernel``'s).  Arguments as there."""

from __future__ import annotations

import numba
import numpy as np

from ._ball_kernel import _part, _ratio, _value

CHUNK = 1 << 10  # coordinates that ``write`` computes into a buffer before it rounds them into out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _point(a, c, h, lo, hi, boxed, lam, k):  # pragma: no cover - compiled
    """x_k(lam); a_k itself at lam = 0."""
    ratio, _ = _ratio(_value(h, k), lam)
    center = _value(c, k)
    point_a = np.float64(a[k])
    point = point_a if lam == 0.0 else (point_a - center) * ratio + center
    if boxed:
        lower, upper = _value(lo, k), _value(hi, k)
        point = lower if point < lower else point
        point = upper if point > upper else point
    return point


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _points(a, c, h, lo, hi, boxed, lam, points):  # pragma: no cover - compiled
    for k in range(a.size):
        points[k] = _point(a, c, h, lo, hi, boxed, lam, k)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _round_toward(points, c, bits):  # pragma: no cover - compiled
    for k in range(bits.size):
        point = points[k]
        shift = point - _value(c, k)
        rounded = np.float32(point)  # to nearest
        wide = np.float64(rounded)
        outward = (wide - point) * shift > 0 and wide != 0
        step = -1 if (shift > 0) == (wide > 0) else 1
        bits[k] = rounded.view(np.int32) + (step if outward else 0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _nearer(a, c, h, lam, points, out):  # pragma: no cover - compiled
    """float64, the plain ball: the search measured each shift (a - c) h / (h + lam), and c + shift
    rounds; where that moved the point farther from c than its shift, one float64 back toward c
    (far from a large c, a rounding of c's size is a large part of a small radius)."""
    for k in range(points.size):
        point, center = points[k], _value(c, k)
        ratio, _ = _ratio(_value(h, k), lam)
        shift = (np.float64(a[k]) - center) * ratio
        out[k] = np.nextafter(point, center) if abs(point - center) > abs(shift) else point


@numba.njit(cache=True, nogil=True, error_model="numpy")
def write(a, c, h, lo, hi, boxed, lam, out, bits):  # pragma: no cover - compiled
    """x(lam) into ``out``, one pass.  A float32 ``out`` (``bits`` its int32 view, else None)
    rounds to nearest, then one float32 back toward c where that rounding moved the point away
    from it (never past c, itself a float32): -1 on the bits of a finite nonzero float32 steps
    toward 0, +1 away from it.  A float64 ``out`` of the plain ball takes ``_nearer``'s rule
    (with a box the search measured the points themselves).

    Each ``CHUNK`` of points goes first into a buffer that stays in cache: ``out`` is often ``a``
    itself, and a loop that reads a and writes out, which LLVM cannot prove apart, does not
    vectorise."""
    points = np.empty(CHUNK)
    for start in range(0, a.size, CHUNK):
        stop = min(a.size, start + CHUNK)
        size = stop - start
        parts = (a[start:stop], _part(c, start, stop), _part(h, start, stop), _part(lo, start, stop),
                 _part(hi, start, stop))
        if boxed:
            _points(*parts, True, lam, points[:size])
        else:
            _points(*parts, False, lam, points[:size])
        if bits is None and not boxed and lam != 0.0:
            _nearer(a[start:stop], _part(c, start, stop), _part(h, start, stop), lam, points[:size], out[start:stop])
        elif bits is None:
            out[start:stop] = points[:size]
        else:
            _round_toward(points[:size], _part(c, start, stop), bits[start:stop])
