"""The embedded store: plain dicts in this process, for one machine and one process.

Every method runs without awaiting in between, so on the event loop each one is atomic.
Nothing survives the process: use Redis for anything that must outlive it.
"""

from __future__ import annotations

import builtins
import copy
from dataclasses import dataclass, field, replace

from ..domain import trace as trace_rule
from ..errors import Conflict, NotFound
from .base import JournalRead, SessionMeta, Store, TraceRead, partial_field, parts_of


@dataclass
class _Session:
    meta: SessionMeta
    checkpoint: bytes | None
    ckpt_seq: int = 0
    events: list[bytes] = field(default_factory=list)  # events ckpt_seq .. head-1
    metrics: list[str] = field(default_factory=list)
    partials: dict[str, str] = field(default_factory=dict)
    trace: TraceRead = field(default_factory=lambda: TraceRead(1, [], None))

    @property
    def head(self) -> int:
        return self.ckpt_seq + len(self.events)


class MemoryStore(Store):
    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}

    def _get(self, session_id: str) -> _Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise NotFound(f"no session {session_id!r}") from None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create(self, meta: SessionMeta, checkpoint: bytes | None) -> None:
        if meta.id in self._sessions:
            raise Conflict(f"session {meta.id!r} already exists")
        self._sessions[meta.id] = _Session(_copy(meta), checkpoint)

    async def meta(self, session_id: str) -> SessionMeta:
        return _copy(self._get(session_id).meta)

    async def list(self, offset: int, limit: int) -> tuple[list[SessionMeta], int]:
        ordered = sorted((s.meta for s in self._sessions.values()), key=lambda m: (m.created, m.id))
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

    async def append(self, session_id: str, seq: int, event: bytes, metric: str | None = None,
                     keep_metrics: int = 0) -> int:
        session = self._get(session_id)
        if session.head != seq or session.checkpoint is None:
            raise Conflict("the session moved on", head=session.head)
        session.events.append(event)
        if metric is None:  # a step closes the open step; a metric leaves its partials alone
            session.partials.clear()
        else:
            session.metrics.append(metric)
            if keep_metrics:
                del session.metrics[:-keep_metrics]
        return session.head

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

    async def metrics(self, session_id: str, last: int | None) -> builtins.list[str]:
        reports = self._get(session_id).metrics
        return list(reports[-last:] if last else reports) if last != 0 else []

    async def append_trace(self, session_id: str, step: int, point: bytes, max_points: int) -> None:
        session = self._get(session_id)
        stride, points = session.trace.stride, session.trace.points
        if trace_rule.keeps(step, stride) and len(points) >= max_points:
            points, stride = trace_rule.compact(points, stride)
        if trace_rule.keeps(step, stride):
            points.append(point)
        session.trace = TraceRead(stride, points, point)

    async def trace(self, session_id: str, since: int = 0, tail: int | None = None) -> TraceRead:
        t = self._get(session_id).trace
        points = t.points if tail is None else t.points[-tail:] if tail else []
        return TraceRead(t.stride, trace_rule.since(points, since), t.last)  # since() copies


def _copy(meta: SessionMeta) -> SessionMeta:
    return replace(meta, config=copy.deepcopy(meta.config))
