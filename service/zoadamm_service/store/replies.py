"""The Redis store's replies and arguments, decoded and encoded (``redis.py`` calls the scripts)."""

from __future__ import annotations

import builtins
import json

from .base import Idempotent, Leased, SessionMeta, partial_field, parts_of


def part_args(step: int, parts: dict[int, str]) -> builtins.list[str]:
    """field, value, field, value, ... of a step's per-direction reports."""
    return [item for i, v in parts.items() for item in (partial_field(step, i), v)]


def parts(step: int, flat: builtins.list[bytes]) -> dict[int, str]:
    """A step's reports from HGETALL's field, value, ... reply."""
    return parts_of(step, {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)})


def leased(reply: builtins.list, seconds: float) -> Leased:
    """A lease script's {0, soonest ms, index, ...} as Leased."""
    soonest = int(reply[1])
    return Leased([int(i) for i in reply[2:]], float(seconds), None if soonest < 0 else soonest / 1000)


def meta(session_id: str, fields: builtins.list) -> SessionMeta:
    tenant, config, name, created = fields
    return SessionMeta(session_id, tenant.decode(), json.loads(name), json.loads(config), float(created))


def idempotency_args(idempotent: Idempotent | None) -> builtins.list:
    """request, answer and ttl, as the create script takes them (empty: no record)."""
    if idempotent is None:
        return ["", "", 0]
    return [idempotent.request, idempotent.answer, idempotent.ttl_s]
