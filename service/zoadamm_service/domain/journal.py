"""Journal events and checkpoints as bytes.  Both reuse the wire frame: a JSON header for the
scalars and raw float32 for the vectors, so a ZO step event is ~120 bytes plus 4 per direction."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import xxhash

from zoadamm import Optimizer, PlateauState, SessionConfig, StepRecord, wire
from zoadamm.methods import state_from_vectors, state_vectors

STEP, METRIC = "step", "metric"


@dataclass(frozen=True)
class Event:
    kind: str
    step: int
    digest: str = ""
    record: StepRecord | None = None
    value: float | None = None
    checksum_before: str | None = None  # of x before the step: a repeated tell answers it
    mu: float | None = None  # mu the step was taken with (the answer's, with record.lr)
    parts: tuple[str, ...] | None = None  # per-direction reports of a split step, by index


def request_digest(*arrays: np.ndarray | None) -> str:
    """128-bit fingerprint of a tell's values, so a repeated tell is recognised.  Payloads under
    1 MiB (ZO values, a gradient of d < 262,144) get BLAKE2b; larger ones XXH3-128, which is made
    for bulk data where BLAKE2b is made for security.  Missing arrays (None) are skipped: as a numpy
    object array, None's bytes are its address, which differs between processes."""
    payload = b"".join(np.ascontiguousarray(a).data for a in arrays if a is not None)  # one copy
    if len(payload) < 1 << 20:
        return hashlib.blake2b(payload, digest_size=16).hexdigest()
    return f"xxh128:{xxhash.xxh3_128_hexdigest(payload)}"


def encode_step(event: Event) -> bytes:
    record = event.record
    if record is None:
        raise ValueError("a step event carries its record")
    fields: dict = {"kind": STEP, "step": record.step, "lr": record.lr, "digest": event.digest}
    fields.update(_optional(event))
    if record.coefficients is not None:
        return wire.encode(fields, {"coefficients": record.coefficients})
    assert record.gradient is not None  # a record has coefficients or a gradient
    return wire.encode(fields, {"gradient": record.gradient})


def _optional(event) -> dict:
    fields = {}
    if event.mu is not None:
        fields["mu"] = event.mu
    if event.checksum_before is not None:
        fields["checksum"] = event.checksum_before
    if event.parts is not None:
        fields["parts"] = list(event.parts)
    return fields


def encode_metric(step: int, value: float) -> bytes:
    return wire.encode({"kind": METRIC, "step": step, "value": value})


def decode_event(blob: bytes) -> Event:
    fields, vectors = wire.decode(blob)
    if fields["kind"] == METRIC:
        return Event(METRIC, fields["step"], value=fields["value"])
    return _step_event(fields, vectors.get("coefficients"), vectors.get("gradient"))


def _step_event(fields: dict, coefficients, gradient) -> Event:
    record = StepRecord(fields["step"], fields["lr"], coefficients=coefficients, gradient=gradient)
    parts = fields.get("parts")
    return Event(
        STEP, fields["step"], fields["digest"], record,
        checksum_before=fields.get("checksum"), parts=None if parts is None else tuple(parts),
        mu=fields.get("mu"),
    )


def encode_checkpoint(optimizer: Optimizer, seq: int, last=None) -> bytes:
    """``last`` (the newest step, a ``replica.LastStep``) travels along, so that a replica
    rebuilt from this checkpoint still answers a repeat of that step instead of 409."""
    s = optimizer.state
    best = optimizer.plateau.best
    fields: dict = {
        "seq": seq, "step": s.step, "lr": optimizer.lr, "mu": optimizer.mu,
        "best": best if math.isfinite(best) else None, "bad_epochs": optimizer.plateau.bad_epochs,
    }
    vectors = state_vectors(optimizer.config.method, s)  # the vectors its method keeps
    if last is not None:
        fields["last"] = {"step": last.step, "lr": last.lr, "digest": last.digest, **_optional(last)}
        if last.coefficients is not None:
            vectors["last_coefficients"] = last.coefficients
    return wire.encode(fields, vectors)


def decode_checkpoint(blob: bytes, config: SessionConfig) -> tuple[Optimizer, int, Event | None]:
    """The optimizer, the number of events it covers, and its newest step event (no gradient).
    A checkpoint may hold more vectors than the method keeps (older ones hold all four)."""
    fields, v = wire.decode(blob)
    state = state_from_vectors(config.method, v, fields["step"])  # copies
    best = math.inf if fields["best"] is None else fields["best"]
    plateau = PlateauState(best=best, bad_epochs=fields["bad_epochs"])
    last = fields.get("last")
    if last is not None:
        coefficients = v.get("last_coefficients")
        last = _step_event(last, None if coefficients is None else coefficients.copy(), None)
    return Optimizer(config, state, fields["lr"], fields["mu"], plateau), fields["seq"], last


def encode_config_vectors(config: SessionConfig) -> bytes:
    """The config's vectors (a constraint's d-vectors) as one frame; b"" when it has none."""
    vectors = config.vectors()
    return wire.encode({}, vectors) if vectors else b""


def decode_config(fields: dict, vectors: bytes) -> SessionConfig:
    """A session's config from its JSON fields and ``encode_config_vectors``'s frame."""
    return SessionConfig.from_dict(fields, wire.decode(vectors)[1] if vectors else None)
