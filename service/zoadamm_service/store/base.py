"""The storage contract: a per-session journal of events plus a checkpoint.

A session's state is ``checkpoint`` (the full state after event ``ckpt_seq``) followed by the
events ``ckpt_seq .. head-1``.  Events are small (a ZO step is its q coefficients), so a step
writes O(q) bytes; a checkpoint is written every ``ZOADAMM_CHECKPOINT_EVERY`` steps (1,000 by
default).  One implementation keeps every rule, ``redis.RedisStore`` with the Lua of
``scripts``; the embedded store (``memory``) is the same class on an in-process Redis.

Contract, for every implementation (``tests/service/test_store_contract.py`` checks it):

* Every method is atomic: a concurrent caller sees all of its effect or none.
* ``append`` is conditional: it succeeds only when the head is exactly ``seq`` of the caller's
  history (``history``), so two replicas can never both write event ``seq``, nor one write on a
  history the store lost.  The event is durable when ``append`` returns, and it is the record
  that makes a repeated tell idempotent, written in the same atomic operation.
* A POST sent with an Idempotency-Key (``Idempotent``) is recorded with its answer in the same
  atomic write as its change; a repeat gets that answer and changes nothing, and the key reused
  for another request raises ``Invalid``.
* Values returned are copies (bytes, fresh dicts): callers may keep them.
* Unknown sessions raise ``NotFound``; failed conditions raise ``Conflict`` with ``head``.
* Session ids reach the store validated (``domain.sessions``); tenants own sessions, and the
  store keeps an index of each tenant's sessions for ``list`` and the per-tenant quota.
* With ``ttl_s`` > 0 a session, all of it, is gone ``ttl_s`` seconds after the last call that
  touched it: every write refreshes it, and ``touch`` does for reads.  An expired session is
  NotFound and leaves the tenant's index (lazily: ``list`` and the quota skip and drop it).

The 20 abstract methods are the calls production makes, each needed by one rule:

* lifecycle: ``create`` (with the tenant's quota and an idempotent repeat), ``meta``, ``list``
  (the tenant's index), ``delete``, ``touch`` (reads restart the idle time), ``ping``
  (``/healthz``), ``close``;
* the journal: ``head`` (is a cached replica current?), ``start`` (x is set once), ``append``
  (the conditional append, with its metric, trace point and idempotency record), ``read``
  (catch up from a checkpoint or a sequence number), ``save_checkpoint``, ``replicated`` (a
  repeat is answered only once its step is as durable as an append makes it);
* split and shared steps: ``add_partials`` (a worker's part), ``lease`` (directions of the open
  step, by the store's clock), ``add_partials_and_lease`` (a part and the next step's lease in
  one call: one round trip per worker and step), ``wait_past`` (a tell or ask waiting for a
  step to close: this process's appends, other replicas' notices, a look at the head);
* the reads of the answers: ``metrics``, ``metrics_page`` (the history by cursor, within a byte
  budget, for the dashboard) and ``trace``.
"""

from __future__ import annotations

import builtins
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ..turns import Yieldable
from .history import Head


@dataclass(frozen=True)
class SessionMeta:
    id: str
    tenant: str
    name: str | None
    config: dict
    created: float
    # the config's vectors (a constraint's d-vector bounds) as one binary frame; b"" when it has
    # none, and in ``list``, which leaves them out (rows show the JSON part only)
    vectors: bytes = b""

    def summary(self) -> dict:
        """What every answer about the session starts from (list rows, GET, create)."""
        return {"id": self.id, "name": self.name, "created": self.created, "config": self.config}


KEY_REUSED = "this Idempotency-Key was sent before with another request; use a new key for a new request"


@dataclass(frozen=True)
class Quota:
    """What one tenant may keep at once (0: no limit), and what a new session takes of it."""

    sessions: int = 0
    bytes: int = 0  # of state: every session's ``size`` added up
    size: int = 0  # the new session's bytes of state (``domain.limits.state_bytes``)


NO_QUOTA = Quota()


@dataclass(frozen=True)
class Idempotent:
    """A POST that carried an Idempotency-Key: its record lives ``ttl_s`` seconds."""

    key: str  # a digest of the tenant and the header: names the record
    request: str  # a digest of the request: the same key with another request is refused
    answer: str  # the first answer (JSON), which a repeat gets back
    ttl_s: int


@dataclass(frozen=True)
class TracePoint:
    """A step's trace point (``domain.trace``), written with the step."""

    step: int
    packed: bytes
    max_points: int


@dataclass(frozen=True)
class Appended:
    head: int  # events after the append
    replayed: str | None = None  # the first answer, when this was a repeat of an Idempotent
    tag: str = ""  # the history's tag after the append (not given for a repeat)


@dataclass(frozen=True)
class JournalRead:
    """What a replica needs to rebuild a session from event ``start`` on."""

    head: int
    start: int  # sequence number of events[0]
    checkpoint: bytes | None  # the state at ``start`` when the caller's state is too old
    events: list[bytes] = field(default_factory=list)
    tag: str = ""  # the history's at ``head``


@dataclass(frozen=True)
class TraceRead:
    """A session's trace (``domain.trace``): the kept points, packed, oldest first; the stride
    they were kept at; and the newest point, packed (None before the first step)."""

    stride: int
    points: list[bytes]
    last: bytes | None
@dataclass(frozen=True)
class MetricsPage:
    """Metric reports (JSON), oldest first.  A report's cursor is its number since the session
    began, so it stays valid while the oldest are dropped: ``end`` is the cursor after the newest
    report, ``next_cursor`` that of the report after this page (None: it reached the newest)."""

    items: list[str]
    end: int
    next_cursor: int | None


@dataclass(frozen=True)
class Leased:
    """What ``Store.lease`` granted: the directions now leased to the holder (those it held
    already included), how long its new leases last, when the soonest lease of another holder on
    this step runs out (None when no other lease is live), and when the soonest of the granted
    ones does, in seconds from now and as a Unix time (by the store's clock; a lease held already
    keeps its expiry; None: none granted)."""

    indices: list[int]
    seconds: float
    others_expire_in: float | None = None
    expires_in: float | None = None
    expires_at: float | None = None

    @property
    def lasts(self) -> float:
        """Seconds until the soonest granted lease runs out (``seconds`` when none was granted)."""
        return self.seconds if self.expires_in is None else self.expires_in

    def expires(self) -> float:
        """When the soonest granted lease runs out: Unix time, by the store's clock (the one that
        ends it; a repeat of the ask answers the same instant), else this process's."""
        return time.time() + self.lasts if self.expires_at is None else self.expires_at


class Store(ABC):
    ttl_s: int = 0  # idle seconds before a session expires; 0: never

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the store does not answer."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the store is not used after this."""

    @abstractmethod
    async def create(self, meta: SessionMeta, checkpoint: bytes | None,
                     idempotent: Idempotent | None = None, quota: Quota = NO_QUOTA) -> str | None:
        """Add a session (head 0), with its initial state when known, and index it under its
        tenant.  Returns None, or the first answer when ``idempotent`` repeats a create.
        Raises Conflict if the session exists, Invalid for a key reused with another request,
        QuotaExceeded when the tenant already has ``quota.sessions`` sessions, or when its
        sessions' sizes and this one's add up to more than ``quota.bytes``."""

    @abstractmethod
    async def touch(self, session_id: str) -> None:
        """Restart the session's idle time (a read; writes restart it themselves); with no idle
        TTL, take off an expiry that an earlier one left on every key of the session."""

    @abstractmethod
    async def meta(self, session_id: str) -> SessionMeta: ...

    @abstractmethod
    async def list(self, tenant: str, offset: int, limit: int) -> tuple[builtins.list[SessionMeta], int]:
        """A tenant's sessions by creation time, and their total count."""

    @abstractmethod
    async def delete(self, session_id: str) -> None: ...

    @abstractmethod
    async def head(self, session_id: str, created: float | None = None) -> Head:
        """Events appended so far, and their history's tag.  ``created``: the caller's copy's
        creation time, SessionReplaced when the session under this id is another (made anew since)."""

    @abstractmethod
    async def start(self, session_id: str, checkpoint: bytes) -> None:
        """Set the initial state, once: Conflict(head=...) when the session already has one, so
        two replicas racing to set x cannot both win, and no cached start can go stale."""

    @abstractmethod
    async def append(self, session_id: str, seq: int, event: bytes, metric: str | None = None, *,
                     trace: TracePoint | None = None, idempotent: Idempotent | None = None,
                     keep_metrics: int = 0, keep_metric_bytes: int = 0, whole: bool = False,
                     rows: tuple[int, dict[int, str]] | None = None, created: float | None = None,
                     tag: str | None = None) -> Appended:
        """Write event ``seq`` iff the head is ``seq`` of the history ``tag`` (None: the store's,
        for a caller that holds no copy); ``whole``: a step told in one piece, which raises
        StepInParts (writing nothing) when some of its directions were reported apart.  ``rows``
        (the step, and its report by index): such a step's reports, compared with theirs:
        StepInParts naming one that differs (``other``), else the step is written.

        Without ``metric`` the event closes a step and drops the partial reports; with
        ``metric`` (JSON) it adds it to the metrics history instead (dropping the oldest while
        there are more than ``keep_metrics`` or more than ``keep_metric_bytes`` bytes of them,
        where those are not 0; the newest always stays), and the open step's partial reports stay.  ``trace``
        joins the session's trace under the rule of ``domain.trace``.  All in the same atomic
        write.  Raises Conflict(head=...) otherwise, and Invalid for an Idempotency-Key reused
        with another request; a repeat of ``idempotent`` writes nothing and returns its first
        answer.  ``created``: as for ``head``, SessionReplaced (nothing written) for another session.
        """

    @abstractmethod
    async def replicated(self, session_id: str, head: int) -> None:
        """Return once the session's events before ``head`` are as durable as an append makes
        them: a repeat is answered only then (the Redis store may wait for its replicas).
        Raises StoreUnavailable."""

    @abstractmethod
    async def read(self, session_id: str, since: int | None, tag: str | None = None) -> JournalRead:
        """Events from ``since`` on, or the checkpoint and the events after it when ``since`` is
        None or older than the checkpoint, or when the history at ``since`` is not ``tag``.
        Conflict when the session has no state yet."""

    @abstractmethod
    async def save_checkpoint(self, session_id: str, seq: int, checkpoint: bytes) -> None:
        """Keep ``checkpoint`` as the state after event ``seq`` if it is newer than the current one
        (a state just read or appended, so of the session's history), and drop the events before
        it.  Replicas may race here: any of them wins."""

    @abstractmethod
    async def add_partials(self, session_id: str, step: int, parts: dict[int, str],
                           created: float | None = None) -> dict[int, str]:
        """Record per-direction reports for ``step``, all or none: none when a direction was
        reported before with another value (the first report wins); returns all of that step's
        reports so far.  ``created``: as for ``head``, SessionReplaced (nothing written) for
        another session; so for the two calls below."""

    @abstractmethod
    async def add_partials_and_lease(self, session_id: str, step: int, parts: dict[int, str], seq: int,
                                     directions: int, count: int, holder: str, seconds: float,
                                     created: float | None = None,
                                     tag: str | None = None) -> tuple[dict[int, str], Leased | None]:
        """``add_partials``, then ``lease`` of step ``step + 1`` while the head is ``seq`` (None once
        it moved, or the part was refused), atomically: a worker's part and its next directions at once."""

    @abstractmethod
    async def lease(self, session_id: str, seq: int, step: int, directions: int, count: int,
                    holder: str, seconds: float, created: float | None = None, tag: str | None = None) -> Leased:
        """Lease directions of step ``step`` (of ``directions``) to ``holder``, iff the head is
        ``seq`` of the history ``tag`` (as ``append``): the unexpired ones it holds, then free
        ones, up to ``count`` in all, in index order.  A direction is free when nobody reported it
        (``add_partials``) and no other holder's lease on it is live; a new lease lasts ``seconds``
        by the store's clock.  Leases of ``step - 1`` and later are kept (the next step may be
        leased while the open one is evaluated), older ones dropped.  Conflict(head=...) otherwise."""

    @abstractmethod
    async def wait_past(self, session_id: str, seq: int, timeout: float, turn: Yieldable | None = None) -> bool:
        """True once the session's head is past ``seq`` (an append of this process, a notice
        from another, or a look at the head said so); False when ``timeout`` seconds pass first.
        A wait never misses an append made before it began.  ``turn``: the call's admission turn
        (``turns``), given back while it waits, when the wait is not answered at once.  Raises
        StoreUnavailable."""

    @abstractmethod
    async def metrics(self, session_id: str, last: int | None) -> builtins.list[str]:
        """The metric reports (JSON), oldest first; only the ``last`` ones when given."""

    @abstractmethod
    async def metrics_page(self, session_id: str, cursor: int | None = None, *, last: int | None = None,
                           limit: int, max_bytes: int, points: int = 0) -> MetricsPage:
        """Up to ``limit`` reports from ``cursor`` on (without one: the last ``last``, or from
        the oldest kept; a cursor dropped since reads from the oldest kept), as many as fit in
        ``max_bytes`` (one at least).  With ``points``: at most that many reports evenly spaced
        over the history, the newest included, within ``max_bytes``.  Raises NotFound."""

    @abstractmethod
    async def trace(self, session_id: str, since: int = 0, tail: int | None = None) -> TraceRead:
        """The kept points of steps >= ``since`` (only the last ``tail`` of them when given)."""
