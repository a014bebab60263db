"""Perturbation directions as a pure function of (seed, step, index).

The algorithm is specified in ``docs/directions.md`` so that a client in any language can
regenerate a direction bit for bit.  In short:

1. Raw stream: Philox4x64-10 (Salmon et al., Random123) with key ``(seed, step)``.  Block ``j``
   (``j = 0, 1, ...``) is the cipher of counter ``(j + 1, 0, index, 0)``; its four 64-bit words
   are split into 16-bit lanes, least significant first.  This is exactly numpy's
   ``Philox(key=[seed, step], counter=[0, 0, index, 0]).random_raw()``, whose raw stream numpy
   keeps stable across versions (NEP 19); numpy's *distribution* methods make no such promise.
2. Each 16-bit lane ``k`` picks ``T[k] = round(4096 * Phi^-1((k + 0.5) / 65536))``: a
   65,536-point quantile grid of N(0, 1) stored as integers.
3. Scaling uses only correctly rounded IEEE 754 operations on exact integers, never a
   transcendental function or a float reduction whose order could vary:
   ``gaussian``: ``u = float32(T[k]) * float32(1 / sqrt(mean(T**2)))`` (unit variance);
   ``sphere``:   ``u = float32(T[k]) * float32(1 / sqrt(N))`` with ``N = sum(T[k]**2)`` an exact
   integer, so ``u`` has unit norm and no summation order can change a bit of it (when
   ``N == 0``, each coordinate is its lane's sign times ``float32(1 / sqrt(dim))``).
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections.abc import Iterable, Iterator
from statistics import NormalDist
from typing import Any

import numpy as np

from ._validate import InvalidArgument, one_of, positive_int, unsigned64

DISTRIBUTIONS = ("sphere", "gaussian")
LANE_BITS = 16
GRID = 4096  # table entries are multiples of 1/GRID
_CHUNK = 1 << 15
_THREAD = threading.local()
# SHA-256 of the quantile table as little-endian int32: a platform whose inverse normal CDF
# rounded one entry differently would silently make other directions, so we refuse to run.
TABLE_SHA256 = "65adb44855f8b71385141d120e46bcbbe7ab553ca422fa6c389f204db6da226b"


@functools.cache
def quantile_table() -> np.ndarray:
    """The 65,536 integer quantiles ``T``, symmetric (``T[65535 - k] == -T[k]``) by construction."""
    size = 1 << LANE_BITS
    half = size // 2
    inv_cdf = NormalDist().inv_cdf
    upper = [round(GRID * inv_cdf((k + 0.5) / size)) for k in range(half, size)]
    table = np.array([-t for t in reversed(upper)] + upper, dtype=np.int32)
    digest = hashlib.sha256(table.astype("<i4").tobytes()).hexdigest()
    if digest != TABLE_SHA256:
        raise RuntimeError(
            f"direction table digest {digest} != {TABLE_SHA256}: this platform's inverse normal "
            "CDF differs, and its directions would not match other machines'"
        )
    table.setflags(write=False)
    return table


@functools.cache
def _float_table() -> np.ndarray:
    table = quantile_table().astype(np.float32)  # exact: |T| < 2**15
    table.setflags(write=False)
    return table


@functools.cache
def _squares() -> np.ndarray:
    return quantile_table().astype(np.int64) ** 2


@functools.cache
def gaussian_scale() -> np.float32:
    """``1 / sqrt(mean(T**2))``: makes gaussian coordinates exactly unit-variance in law."""
    total = int(_squares().sum())
    return np.float32(1.0 / math.sqrt(total / float(1 << LANE_BITS)))


def lanes(seed: int, step: int, index: int, dim: int) -> np.ndarray:
    """The first ``dim`` 16-bit lanes of the raw stream for (seed, step, index)."""
    # uint64 arrays, not lists: numpy reads a list holding a value >= 2**63 as float64, which
    # drops low bits (seed 2**64 - 1 became key 0 and collided with seed 0)
    # One Philox per thread, set to (key, counter) through its state: the same stream as a new
    # ``Philox(key=[seed, step], counter=[0, 0, index, 0])``, without building one per direction
    bit_generator, state = _philox()
    key, counter = state["state"]["key"], state["state"]["counter"]
    key[0], key[1] = seed, step  # one Python int at a time: exact up to 2**64 - 1
    counter[:] = 0
    counter[2] = index
    state["buffer_pos"] = 4  # nothing buffered: the next word is block 0's first
    bit_generator.state = state
    words = bit_generator.random_raw(-(-dim // 4))
    return words.astype("<u8", copy=False).view("<u2")[:dim]


def _philox() -> tuple[np.random.Philox, Any]:
    """This thread's Philox and a state dict of it to fill in (the generator is not thread-safe)."""
    mine = getattr(_THREAD, "philox", None)
    if mine is None:
        generator = np.random.Philox(0)
        mine = _THREAD.philox = (generator, generator.state)
    return mine


def _sum_of_squares(values: np.ndarray, codes: np.ndarray) -> float:
    """Exact sum of squares of integer-valued ``values`` (``values == T[codes]``).

    Every product and partial sum is an integer below 2**53, so float64 arithmetic is exact
    in any order (no summation order or SIMD width can change a bit).  Larger inputs count codes
    instead.  No BLAS: its threads stall whenever the machine is busy.
    """
    if len(values) * int(_squares()[-1]) >= 2**53:
        return float(int(np.bincount(codes, minlength=1 << LANE_BITS) @ _squares()))
    if len(values) <= _CHUNK:
        return float(np.square(values, dtype=np.float64).sum())
    chunk = np.empty(_CHUNK, dtype=np.float64)  # cache-sized blocks
    total = 0.0
    for start in range(0, len(values), _CHUNK):
        block = chunk[: min(_CHUNK, len(values) - start)]
        np.copyto(block, values[start : start + _CHUNK])
        np.square(block, out=block)
        total += float(block.sum())
    return total


def direction(
    seed: int,
    step: int,
    index: int,
    dim: int,
    distribution: str = "sphere",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Direction ``index`` of ``step`` for a session seeded ``seed``, as float32 of length ``dim``.

    Raises:
        InvalidArgument: a negative or oversized seed/step/index, ``dim < 1``, an unknown
            distribution, or an ``out`` buffer that is not float32 of length ``dim``.
    """
    _check(seed, step, dim, distribution)
    unsigned64("index", index)
    if out is None:
        out = np.empty(dim, dtype=np.float32)
    elif out.dtype != np.float32 or out.shape != (dim,):
        raise InvalidArgument(f"out must be float32 of shape ({dim},)")
    return _make_one(seed, step, index, dim, distribution, out)


def _check(seed: int, step: int, dim: int, distribution: str) -> None:
    # the common case in one test: at small dims the checks below cost a share of a direction
    if type(seed) is int and type(step) is int and type(dim) is int and 0 <= seed < 2**64 \
            and 0 <= step < 2**64 and dim >= 1 and distribution in DISTRIBUTIONS:
        return
    unsigned64("seed", seed)
    unsigned64("step", step)
    positive_int("dim", dim)
    one_of("distribution", distribution, DISTRIBUTIONS)


def _make_one(seed: int, step: int, index: int, dim: int, distribution: str, u: np.ndarray) -> np.ndarray:
    codes = lanes(seed, step, index, dim)
    # Lanes are always in range; "clip" skips numpy's buffered bounds check.
    _float_table().take(codes, out=u, mode="clip")  # the method: no dispatch layer per direction
    if distribution == "gaussian":
        scale = gaussian_scale()
    else:
        total = _sum_of_squares(u, codes)
        if total == 0.0:
            return _sign_fallback(codes, u)
        scale = np.float32(1.0 / math.sqrt(total))
    u *= scale
    return u


def _sign_fallback(codes: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The sphere direction when every lane drew one of T's six zeros.

    There is nothing to normalise, and it is not rare at tiny dims (about 1 in 11,000 at
    dim 1), so each coordinate takes its lane's sign: ``u = +-float32(1 / sqrt(dim))``, still of
    unit norm and symmetric in law.
    """
    np.copyto(u, np.where(codes >= 1 << (LANE_BITS - 1), np.float32(1.0), np.float32(-1.0)))
    u *= np.float32(1.0 / math.sqrt(len(u)))
    return u


def rows_per_block(dim: int) -> int:
    """Directions made together in one block: as many as keep a block near 1 MB; long vectors
    (more than 32,768 values) one at a time."""
    return max(1, (1 << 18) // dim) if dim <= _CHUNK else 1


def direction_blocks(
    seed: int, step: int, indices: Iterable[int], dim: int, distribution: str = "sphere",
    out: np.ndarray | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Directions ``indices`` of one step, a block of rows at a time: yields ``(start, block)``,
    where ``block[r]`` is direction ``indices[start + r]`` (float32, the same bits as
    ``direction``).  Every way of making several directions goes through here: short vectors
    are made ``rows_per_block(dim)`` at a time (one table lookup and one scaling per block;
    at small dims the per-call overhead is most of a direction), long ones one at a time.

    ``out`` (float32, ``(len(indices), dim)``): each block is a view of its rows, so the whole
    array is filled at the end.  Without it, every block reuses one buffer: use a block before
    asking for the next.

    Raises:
        InvalidArgument: as ``direction``, or an ``out`` that is not float32 of that shape
            (checked before the first block).
    """
    _check(seed, step, dim, distribution)
    indices = _checked_indices(indices)
    if out is not None and (out.dtype != np.float32 or out.shape != (len(indices), dim)):
        raise InvalidArgument(f"out must be float32 of shape {(len(indices), dim)}")
    if len(indices) == 1 or len(indices) <= rows_per_block(dim):  # one block: the common case
        block = np.empty((len(indices), dim), dtype=np.float32) if out is None else out
        _make_block(seed, step, indices, dim, distribution, block)
        yield 0, block
        return
    per_block = rows_per_block(dim)
    reuse = out is None  # one buffer for every block
    target = np.empty((per_block, dim), dtype=np.float32) if out is None else out
    for start in range(0, len(indices), per_block):
        chunk = indices[start : start + per_block]
        block = target[: len(chunk)] if reuse else target[start : start + len(chunk)]
        _make_block(seed, step, chunk, dim, distribution, block)
        yield start, block


def _checked_indices(indices: Iterable[int]) -> list[int]:
    if type(indices) is range and indices.step > 0 and indices.start >= 0 and indices.stop <= 2**64:
        return list(indices)  # every index in [0, 2**64): the common case, checked at once
    return [unsigned64("index", i) for i in indices]


def _make_block(seed: int, step: int, indices: list[int], dim: int, distribution: str, out: np.ndarray) -> None:
    """Rows ``out`` of ``indices``: one row, or several of at most ``_CHUNK`` values (``rows_per_block``)."""
    if len(indices) == 1:
        _make_one(seed, step, indices[0], dim, distribution, out[0])
        return
    codes = np.empty(out.shape, dtype=np.uint16)
    for row, index in enumerate(indices):
        codes[row] = lanes(seed, step, index, dim)
    np.take(_float_table(), codes, out=out, mode="clip")
    if distribution == "gaussian":
        out *= gaussian_scale()
        return
    # dim <= _CHUNK: every square and partial sum is an integer below 2**53, exact in any order
    # (as in direction)
    totals = np.square(out, dtype=np.float64).sum(axis=1)
    drawn = totals != 0.0
    scales = np.ones(len(indices), dtype=np.float32)  # the fallback rows come out of unit norm
    scales[drawn] = (1.0 / np.sqrt(totals[drawn])).astype(np.float32)
    out *= scales[:, None]
    for fallback in np.flatnonzero(~drawn):
        _sign_fallback(codes[fallback], out[fallback])


def direction_rows(
    seed: int, step: int, indices: Iterable[int], dim: int, distribution: str = "sphere",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Directions ``indices`` of one step as a ``(len(indices), dim)`` float32 array, row ``r``
    the same bits as ``direction(seed, step, indices[r], ...)``.

    Raises:
        InvalidArgument: as ``direction_blocks``.
    """
    indices = indices if type(indices) is range else list(indices)  # a range is checked at once
    if out is None:
        out = np.empty((len(indices), positive_int("dim", dim)), dtype=np.float32)
    for _ in direction_blocks(seed, step, indices, dim, distribution, out=out):
        pass
    return out


def directions(
    seed: int, step: int, count: int, dim: int, distribution: str = "sphere"
) -> np.ndarray:
    """The ``count`` directions of one step, stacked as a ``(count, dim)`` float32 array.

    Raises:
        InvalidArgument: ``count < 1``, or as ``direction``.
    """
    return direction_rows(seed, step, range(positive_int("count", count)), dim, distribution)

