"""The embedded store: plain dicts in this process, for one machine and one process.

Every method runs without awaiting in between, so on the event loop each one is atomic.
Nothing survives the process: use Redis for anything that must outlive it.
"""

from __future__ import annotations

import builtins
import copy
import time
from dataclasses import dataclass, field, replace

from ..domain import trace as trace_rule
from ..errors import Conflict, Invalid, NotFound, QuotaExceeded
from .base import (
    KEY_REUSED,
    Appended,
    Idempotent,
    JournalRead,
    Leased,
    SessionMeta,
    Store,
    TracePoint,
    TraceRead,
    partial_field,
    parts_of,
    quota_message,
)


@dataclass
class _Session:
    meta: SessionMeta
    checkpoint: bytes | None
    ckpt_seq: int = 0
    events: list[bytes] = field(default_factory=list)  # events ckpt_seq .. head-1
    metrics: list[str] = field(default_factory=list)
    partials: dict[str, str] = field(default_factory=dict)
    leases: dict[tuple[int, int], tuple[float, str]] = field(default_factory=dict)  # (step, index) -> (expiry, holder)
    trace: TraceRead = field(default_factory=lambda: TraceRead(1, [], None))
    used: float = field(default_factory=time.monotonic)  # the last call that touched it

    @property
    def head(self) -> int:
        return self.ckpt_seq + len(self.events)


class MemoryStore(Store):
    def __init__(self, ttl_s: int = 0) -> None:
        self.ttl_s = ttl_s
        self._sessions: dict[str, _Session] = {}
        # (session id, key) -> (request digest, first answer, expiry on the monotonic clock)
        self._idempotent: dict[tuple[str, str], tuple[str, str, float]] = {}

    def _get(self, session_id: str) -> _Session:
        """The session, its idle time restarted (every call counts, as in Redis)."""
        session = self._sessions.get(session_id)
        now = time.monotonic()
        if session is not None and self._expired(session, now):
            del self._sessions[session_id]
            session = None
        if session is None:
            raise NotFound(f"no session {session_id!r}")
        session.used = now
        return session

    def _expired(self, session: _Session, now: float) -> bool:
        return self.ttl_s > 0 and session.used + self.ttl_s <= now

    def _live(self) -> builtins.list[_Session]:
        """Every session still alive; the expired ones go."""
        now = time.monotonic()
        for session_id in [i for i, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[session_id]
        return builtins.list(self._sessions.values())

    async def touch(self, session_id: str) -> None:
        self._get(session_id)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create(self, meta: SessionMeta, checkpoint: bytes | None,
                     idempotent: Idempotent | None = None, max_sessions: int = 0) -> str | None:
        replay = self._replay(meta.id, idempotent)
        if replay is not None:
            return replay
        live = self._live()
        if meta.id in self._sessions:
            raise Conflict(f"session {meta.id!r} already exists")
        if max_sessions and sum(s.meta.tenant == meta.tenant for s in live) >= max_sessions:
            raise QuotaExceeded(quota_message(max_sessions))
        self._sessions[meta.id] = _Session(_copy(meta), checkpoint)
        self._remember(meta.id, idempotent)
        return None

    async def meta(self, session_id: str) -> SessionMeta:
        return _copy(self._get(session_id).meta)

    async def list(self, tenant: str, offset: int, limit: int) -> tuple[builtins.list[SessionMeta], int]:
        owned = (s.meta for s in self._live() if s.meta.tenant == tenant)
        ordered = sorted(owned, key=lambda m: (m.created, m.id))
        return [_copy(m) for m in ordered[offset : offset + limit]], len(ordered)

    async def delete(self, session_id: str) -> None:
        self._get(session_id)
        del self._sessions[session_id]

    async def head(self, session_id: str) -> int:
        return self._get(session_id).head

    async def start(self, session_id: str, checkpoint: bytes) -> None:
        session = self._get(session_id)
        if session.checkpoint is not None:
            raise Conflict("the session already has parameters", head=session.head)
        session.checkpoint = checkpoint

    async def append(self, session_id: str, seq: int, event: bytes, metric: str | None = None, *,
                     trace: TracePoint | None = None, idempotent: Idempotent | None = None,
                     keep_metrics: int = 0) -> Appended:
        session = self._get(session_id)
        replay = self._replay(session_id, idempotent)
        if replay is not None:
            return Appended(session.head, replay)
        if session.head != seq or session.checkpoint is None:
            raise Conflict("the session moved on", head=session.head)
        session.events.append(event)
        if metric is None:  # a step closes the open step; a metric leaves its partials alone
            session.partials.clear()
        else:
            session.metrics.append(metric)
            if keep_metrics:
                del session.metrics[:-keep_metrics]
        if trace is not None:
            _add_point(session, trace)
        self._remember(session_id, idempotent)
        return Appended(session.head)

    async def replicated(self, session_id: str, head: int) -> None:
        return None  # one process: an append is as durable as it gets

    async def read(self, session_id: str, since: int | None) -> JournalRead:
        session = self._get(session_id)
        if session.checkpoint is None:
            raise Conflict("the session has no parameters yet", head=0)
        if since is None or since < session.ckpt_seq or since > session.head:
            return JournalRead(session.head, session.ckpt_seq, session.checkpoint, list(session.events))
        return JournalRead(session.head, since, None, session.events[since - session.ckpt_seq :])

    async def save_checkpoint(self, session_id: str, seq: int, checkpoint: bytes) -> None:
        session = self._sessions.get(session_id)
        if session is None or not session.ckpt_seq < seq <= session.head:
            return
        del session.events[: seq - session.ckpt_seq]
        session.ckpt_seq, session.checkpoint = seq, checkpoint

    async def add_partials(self, session_id: str, step: int, parts: dict[int, str]) -> dict[int, str]:
        session = self._get(session_id)
        for i, v in parts.items():  # the first report of a direction wins
            session.partials.setdefault(partial_field(step, i), v)
        return parts_of(step, session.partials)

    async def add_partials_and_lease(self, session_id: str, step: int, parts: dict[int, str], seq: int,
                                     directions: int, count: int, holder: str,
                                     seconds: float) -> tuple[dict[int, str], Leased | None]:
        reported = await self.add_partials(session_id, step, parts)
        try:
            return reported, await self.lease(session_id, seq, step + 1, directions, count, holder, seconds)
        except Conflict:
            return reported, None

    async def lease(self, session_id: str, seq: int, step: int, directions: int, count: int,
                    holder: str, seconds: float) -> Leased:
        session = self._get(session_id)
        if session.head != seq:
            raise Conflict("the session moved on", head=session.head)
        for old in [key for key in session.leases if key[0] < step - 1]:  # older steps' leases go
            del session.leases[old]
        now = time.monotonic()
        live = {i: h for (s, i), (expiry, h) in session.leases.items() if s == step and expiry > now}
        others = [expiry - now for (s, _), (expiry, h) in session.leases.items()
                  if s == step and expiry > now and h != holder]
        free = [i for i in range(directions)
                if live.get(i, holder) == holder and partial_field(step, i) not in session.partials]
        # what the holder still holds first (a retried ask gets its lease back), then free ones
        granted = sorted(sorted(free, key=lambda i: live.get(i) != holder)[:count])
        for i in granted:
            if live.get(i) != holder:
                session.leases[step, i] = (now + seconds, holder)
        return Leased(granted, seconds, min(others) if others else None)

    async def metrics(self, session_id: str, last: int | None) -> builtins.list[str]:
        reports = self._get(session_id).metrics
        return list(reports[-last:] if last else reports) if last != 0 else []

    async def trace(self, session_id: str, since: int = 0, tail: int | None = None) -> TraceRead:
        t = self._get(session_id).trace
        points = t.points if tail is None else t.points[-tail:] if tail else []
        return TraceRead(t.stride, trace_rule.since(points, since), t.last)  # since() copies


    def _replay(self, session_id: str, idempotent: Idempotent | None) -> str | None:
        """The first answer of a repeated Idempotent; Invalid if its key came with another request."""
        if idempotent is None:
            return None
        record = self._idempotent.get((session_id, idempotent.key))
        if record is None or record[2] <= time.monotonic():
            return None
        if record[0] != idempotent.request:
            raise Invalid(KEY_REUSED)
        return record[1]

    def _remember(self, session_id: str, idempotent: Idempotent | None) -> None:
        if idempotent is None:
            return
        now = time.monotonic()
        for key in [k for k, record in self._idempotent.items() if record[2] <= now]:
            del self._idempotent[key]  # expired records go, as Redis expires them
        self._idempotent[(session_id, idempotent.key)] = (idempotent.request, idempotent.answer,
                                                          now + idempotent.ttl_s)


def _add_point(session: _Session, point: TracePoint) -> None:
    """The trace rule of ``domain.trace``, as the Redis script applies it."""
    stride, points = session.trace.stride, session.trace.points
    if trace_rule.keeps(point.step, stride) and len(points) >= point.max_points:
        points, stride = trace_rule.compact(points, stride)
    if trace_rule.keeps(point.step, stride):
        points.append(point.packed)
    session.trace = TraceRead(stride, points, point.packed)


def _copy(meta: SessionMeta) -> SessionMeta:
    return replace(meta, config=copy.deepcopy(meta.config))
