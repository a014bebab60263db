"""The Redis store's replies and arguments, decoded and encoded (``redis.py`` calls the scripts)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping

from ..errors import Conflict, Invalid, NotFound, ServiceError, SessionReplaced, StepInParts, StoreDamaged
from . import scripts
from .base import KEY_REUSED, Idempotent, Leased, SessionMeta

META_FIELDS = ("tenant", "config", "name", "created")  # a list's rows; ``meta`` adds "vectors"


def text(raw: object) -> str:
    """A reply's string: bytes from a client that does not decode replies, a str from one that does."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def partial_field(step: int, index: int) -> str:
    """The key of one direction's report in a split step's partials: ``"step:index"``."""
    return f"{step}:{index}"


def parts_of(step: int, fields: Mapping[str, str]) -> dict[int, str]:
    """The reports of ``step`` among the partials ``fields``, by direction index."""
    prefix = partial_field(step, 0)[:-1]
    return {int(key[len(prefix):]): value for key, value in fields.items() if key.startswith(prefix)}


def part_args(step: int, parts: dict[int, str]) -> builtins.list[str]:
    """field, value, field, value, ... of a step's per-direction reports."""
    return [item for i, v in parts.items() for item in (partial_field(step, i), v)]


def parts(step: int, flat: builtins.list[bytes]) -> dict[int, str]:
    """A step's reports from HGETALL's field, value, ... reply."""
    return parts_of(step, {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)})


def created_arg(created: float | None) -> str:
    """The caller's copy's creation time as the scripts compare it with the meta's ('': any)."""
    return "" if created is None else repr(created)


def leased(reply: builtins.list, seconds: float) -> Leased:
    """A lease script's {0, others' soonest ms, granted's soonest ms and its time, index, ...} as
    Leased."""
    soonest, held, held_at = int(reply[1]), int(reply[2]), int(reply[3])
    return Leased([int(i) for i in reply[4:]], float(seconds), None if soonest < 0 else soonest / 1000,
                  None if held < 0 else held / 1000, None if held_at < 0 else held_at / 1000)


def meta(session_id: str, fields: builtins.list) -> SessionMeta:
    """``fields``: META_FIELDS, and the config's vectors when read (b"" for a session without any,
    or written before sessions had them)."""
    tenant, config, name, created, *vectors = fields
    return SessionMeta(session_id, tenant.decode(), json.loads(name), json.loads(config), float(created),
                       (vectors[0] if vectors else None) or b"")


def idempotency_args(idempotent: Idempotent | None) -> builtins.list:
    """request, answer and ttl, as the create script takes them (empty: no record)."""
    if idempotent is None:
        return ["", "", 0]
    return [idempotent.request, idempotent.answer, idempotent.ttl_s]


def append_refusal(session_id: str, reply: builtins.list) -> ServiceError:
    """What the per-step script's refusal ``{code, head, ...}`` means, as the error to raise."""
    code, head = reply[0], reply[1]
    if code == scripts.NOT_FOUND:
        return NotFound.session(session_id)
    if code == scripts.REUSED:
        return Invalid(KEY_REUSED)
    if code == scripts.REPLACED:
        return SessionReplaced(session_id)
    if code == scripts.DAMAGED:
        return damaged(session_id, "its journal or checkpoint is gone")
    if code in (scripts.IN_PARTS, scripts.OTHER_PARTS):
        other = None if code == scripts.IN_PARTS else int(text(reply[2]).rsplit(":", 1)[1])
        return StepInParts("some of the step's directions were reported apart", head=head, other=other)
    return Conflict("the session moved on" if code == scripts.MOVED else "the session has no parameters yet",
                    head=head)


def damaged(session_id: str, what: str) -> StoreDamaged:
    return StoreDamaged(f"session {session_id}'s records in Redis are not whole ({what}): keys were evicted or "
                        "deleted (Redis's maxmemory-policy must be noeviction)")
