"""The storage contract: a per-session journal of events plus a checkpoint.

A session's state is ``checkpoint`` (the full state after event ``ckpt_seq``) followed by the
events ``ckpt_seq .. head-1``.  Events are small (a ZO step is its q coefficients), so a step
writes O(q) bytes; a checkpoint is written every few thousand steps.

Contract, for every implementation (``tests/service/test_store_contract.py`` checks it):

* Every method is atomic: a concurrent caller sees all of its effect or none.
* ``append`` is conditional: it succeeds only when the head is exactly ``seq``, so two replicas
  can never both write event ``seq``.  The event is durable when ``append`` returns, and it is
  the record that makes a repeated tell idempotent, written in the same atomic operation.
* Values returned are copies (bytes, fresh dicts): callers may keep them.
* Unknown sessions raise ``NotFound``; failed conditions raise ``Conflict`` with ``head``.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SessionMeta:
    id: str
    name: str | None
    config: dict
    created: float


@dataclass(frozen=True)
class JournalRead:
    """What a replica needs to rebuild a session from event ``start`` on."""

    head: int
    start: int  # sequence number of events[0]
    checkpoint: bytes | None  # the state at ``start`` when the caller's state is too old
    events: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class TraceRead:
    """A session's trace (``domain.trace``): the kept points, packed, oldest first; the stride
    they were kept at; and the newest point, packed (None before the first step)."""

    stride: int
    points: list[bytes]
    last: bytes | None
def partial_field(step: int, index: int) -> str:
    """The key of one direction's report in a split step's partials: ``"step:index"``."""
    return f"{step}:{index}"


def parts_of(step: int, fields: Mapping[str, str]) -> dict[int, str]:
    """The reports of ``step`` among the partials ``fields``, by direction index."""
    prefix = partial_field(step, 0)[:-1]
    return {int(key[len(prefix):]): value for key, value in fields.items() if key.startswith(prefix)}


class Store(ABC):
    @abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the store does not answer."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the store is not used after this."""

    @abstractmethod
    async def create(self, meta: SessionMeta, checkpoint: bytes | None) -> None:
        """Add a session (head 0), with its initial state when known.  Conflict if it exists."""

    @abstractmethod
    async def meta(self, session_id: str) -> SessionMeta: ...

    @abstractmethod
    async def list(self, offset: int, limit: int) -> tuple[list[SessionMeta], int]:
        """Sessions by creation time, and the total count."""

    @abstractmethod
    async def delete(self, session_id: str) -> None: ...

    @abstractmethod
    async def head(self, session_id: str) -> int:
        """Number of events appended so far."""

    @abstractmethod
    async def start(self, session_id: str, checkpoint: bytes) -> None:
        """Set the initial state, once: Conflict(head=...) when the session already has one, so
        two replicas racing to set x cannot both win, and no cached start can go stale."""

    @abstractmethod
    async def append(self, session_id: str, seq: int, event: bytes, metric: str | None = None,
                     keep_metrics: int = 0) -> int:
        """Write event ``seq`` iff the head is ``seq``; returns the new head.

        Without ``metric`` the event closes a step and drops the partial reports; with
        ``metric`` (JSON) it adds it to the metrics history instead (keeping only the newest
        ``keep_metrics`` when it is not 0), and the open step's partial reports stay.  All in
        the same atomic write.  Raises Conflict(head=...) otherwise.
        """

    @abstractmethod
    async def read(self, session_id: str, since: int | None) -> JournalRead:
        """Events from ``since`` on, or the checkpoint and the events after it when ``since`` is
        None or older than the checkpoint.  Conflict when the session has no state yet."""

    @abstractmethod
    async def save_checkpoint(self, session_id: str, seq: int, checkpoint: bytes) -> None:
        """Keep ``checkpoint`` as the state after event ``seq`` if it is newer than the current
        one, and drop the events before it.  Replicas may race here: any of them wins."""

    @abstractmethod
    async def add_partials(self, session_id: str, step: int, parts: dict[int, str]) -> dict[int, str]:
        """Record per-direction reports for ``step``, keeping the first report of a direction;
        returns all of that step's reports so far."""

    @abstractmethod
    async def metrics(self, session_id: str, last: int | None) -> builtins.list[str]:
        """The metric reports (JSON), oldest first; only the ``last`` ones when given."""

    @abstractmethod
    async def append_trace(self, session_id: str, step: int, point: bytes, max_points: int) -> None:
        """Keep ``point`` (packed, ``domain.trace.POINT``) as the session's newest trace point,
        and add it to the kept points under the downsampling rule of ``domain.trace``: at most
        ``max_points``, the stride doubling when full.  NotFound for an unknown session."""

    @abstractmethod
    async def trace(self, session_id: str, since: int = 0, tail: int | None = None) -> TraceRead:
        """The kept points of steps >= ``since`` (only the last ``tail`` of them when given)."""
