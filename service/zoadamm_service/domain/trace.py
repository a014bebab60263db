"""The trace: the service's own compact record of each step, for the dashboard and the SDK.

A point is what one committed step looked like, 36 bytes packed (``POINT``):

    step    float64  the step number (exact below 2**53)
    time    float64  Unix time when the step was committed
    f       float32  ZO: the mean of the f_x reported with the step (central differences have
                     no f_x, so the mean of (f_plus_i + f_minus_i) / 2, which is f(x) + O(mu^2));
                     FO: NaN (the client sends no value)
    g_norm  float32  FO: the exact gradient norm.  ZO: sqrt(E||u||^2 * sum_i c_i^2), where
                     E||u||^2 is 1 on the sphere and d for Gaussian directions.  That is the root
                     of the expectation of ||sum_i c_i u_i||^2 over the directions given the
                     coefficients; it is exact for q = 1 on the sphere.  The exact norm would need
                     the q directions, which the service does not regenerate for this.
    spread  float32  ZO: the standard deviation of the q coefficients c_i (0 for q = 1); FO: NaN
    lr, mu  float32  what the step was taken with

A value that does not fit float32 (|v| above its largest, or not finite; a client may report
f = 1e39) is kept as NaN, the marker every reader already knows: JSON answers carry it as null.

Downsampling: a session keeps at most ``max_points`` points, every ``stride``-th step from
step 0.  The stride starts at 1; when the list is full it doubles and the points whose step is
not a multiple of the new stride are dropped, so a 1M-step session keeps between
max_points / 2 and max_points evenly spaced points.  Beside them the newest point is always
kept, whatever the stride.  The store applies the rule in the append (``store.scripts.APPEND``).

The tell path builds a step's point with ``point_for`` and the store writes it in the same
atomic append as the step: one round trip, and the trace can never disagree with the journal.
"""

from __future__ import annotations

import math
import struct
import time

import numpy as np

from ..store.base import TracePoint

POINT = struct.Struct("<dd5f")
FLOAT32_MAX = float(np.finfo(np.float32).max)
FIELDS = ("step", "time", "f", "g_norm", "spread", "lr", "mu")


def f_of(f_x, f_plus, f_minus) -> float:
    """The f value a ZO step reports about x: mean f_x, or for central differences the mean
    of (f_plus + f_minus) / 2."""
    if f_minus is None and f_x is not None and len(f_x) == 1:  # one direction: the mean is the value
        return float(f_x[0])
    with np.errstate(over="ignore", invalid="ignore"):  # huge values: inf, which ``point`` keeps as NaN
        if f_minus is not None:
            return float((np.mean(f_plus) + np.mean(f_minus)) / 2)
        return float(np.mean(f_x)) if f_x is not None else math.nan


def point(record, mu: float, f: float | None, distribution: str, dim: int, now: float) -> bytes:
    """The packed trace point of one step record (``zoadamm.StepRecord``)."""
    if record.coefficients is not None:
        # q is small: plain floats beat numpy's reductions, whose fixed cost per call dominates here
        c = record.coefficients.tolist()
        squares, mean = math.fsum(v * v for v in c), math.fsum(c) / len(c)
        scale = dim if distribution == "gaussian" else 1
        g_norm = math.sqrt(scale * squares)
        spread = math.sqrt(max(0.0, math.fsum((v - mean) ** 2 for v in c) / len(c)))
    else:
        g = record.gradient
        g_norm, spread = math.sqrt(float(np.dot(g, g))), math.nan
    return POINT.pack(record.step, now, *map(_float32, (f, g_norm, spread, record.lr, mu)))


def step_of(packed: bytes) -> int:
    return int(struct.unpack_from("<d", packed)[0])


def columns(points: list[bytes]) -> dict[str, np.ndarray]:
    """Packed points as one array per field (step and time float64, the rest float32)."""
    rows = np.frombuffer(b"".join(points), dtype=np.dtype(
        [("step", "<f8"), ("time", "<f8"), ("f", "<f4"), ("g_norm", "<f4"),
         ("spread", "<f4"), ("lr", "<f4"), ("mu", "<f4")]))
    return {name: rows[name].copy() for name in FIELDS}


def point_for(event, f: float | None, config, max_points: int) -> TracePoint | None:
    """The trace point the step ``event`` is appended with; None while the trace is off."""
    if max_points == 0:
        return None
    packed = point(event.record, event.mu, f, config.distribution, config.dim, time.time())
    return TracePoint(event.step, packed, max_points)


def _float32(value: float | None) -> float:
    """``value`` where float32 holds it, else NaN (None, NaN, +-inf and |value| > FLOAT32_MAX)."""
    return value if value is not None and -FLOAT32_MAX <= value <= FLOAT32_MAX else math.nan


async def read(store, session_id: str, since: int = 0, tail: int | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """A session's trace as an answer: step and time exact (header fields), the float32 fields
    as vectors.  Raises NotFound."""
    kept = await store.trace(session_id, since, tail)
    cols = columns(kept.points)
    fields = {
        "stride": kept.stride, "since": since,
        "step": cols["step"].astype(np.int64).tolist(), "time": cols["time"].tolist(),
        "last": None if kept.last is None else as_dict(kept.last),
    }
    return fields, {name: cols[name] for name in FIELDS[2:]}


def as_dict(packed: bytes) -> dict:
    """One point as JSON-safe values (NaN and +-inf, written before they were kept as NaN, as None)."""
    values = POINT.unpack(packed)
    out = {name: (v if math.isfinite(v) else None)
           for name, v in zip(FIELDS, values, strict=True)}
    out["step"] = int(values[0])
    return out
