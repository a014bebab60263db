"""Many workers on one step: the open step's q directions are leased to whichever worker asks.

An ask with a ``lease`` count answers the directions this worker should evaluate (``leased``),
leased in the store under the session's hash tag, atomically (``Store.lease``).  A lease not told
within ``ZOADAMM_LEASE_SECONDS`` goes to the next worker that asks, so a worker that dies
mid-step delays the step but never stalls it.  A worker with nothing to lease may ``wait``: the
ask answers when the step closes (woken at once by a step this process appends or by the
store's notice of another replica's, ``follow_closes``; failing both, by a look at the store
every ``POLL_S``) or when another worker's lease runs out.

Workers follow x without downloading it: with ``since`` (the step their x is at) the answer
carries the records of the steps closed since, which they apply as the mirror does (same
update, same bits).  The tells are the split tells of ``domain.split``.

A tell may carry the lease fields too (``tell_and_lease``): it reports this worker's part, waits
for the step to close like a waiting ask, and answers the closed steps' records with this
worker's lease on the next step, so a worker makes one round trip per step.  The part and that
lease go to the store in one call (``Store.add_partials_and_lease``), so when the step closes
in this process the answers need no further look at the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from zoadamm import AnswerMode

from ..errors import Conflict, Invalid
from ..store.base import Leased
from . import sessions as base
from . import split
from .inputs import ZOValues
from .replica import LastStep, Replica
from .results import StepOpened

log = logging.getLogger("zoadamm.service")

MAX_WAIT_S = 30.0  # the longest an ask may block
POLL_S = 0.005  # a waiting ask looks at the store this often, for steps other replicas append
FIRST_NAP_S = 0.1  # a tell that leaves its step open waits this long for the rest before it leases
MAX_ALONE = 10_000  # sessions remembered as worked by one worker alone (forgotten all at once beyond)


@dataclass(frozen=True)
class LeaseAsk:
    count: int  # how many directions this worker wants to evaluate at once
    worker: str  # the holder's name: asking again gets its unexpired lease back
    wait: float = 0.0  # seconds to wait when nothing can be leased now
    since: int | None = None  # the step the worker's x is at: the answer carries the steps since
    until: int | None = None  # lease nothing on this step or later (the worker stops there)


@dataclass(frozen=True)
class LeaseAnswer:
    opened: StepOpened
    leased: list[int]
    seconds: float
    steps: list[dict] | None  # records of the steps from ``since`` to the open one, oldest first
    expires: float | None = None  # Unix time the lease runs out, when not ``seconds`` from now

    def fields(self) -> dict:
        expires = (self.expires or time.time() + self.seconds) if self.leased else None
        return {**self.opened.fields(), "leased": self.leased, "lease_seconds": self.seconds,
                "lease_expires": expires, "steps": self.steps}


@dataclass(frozen=True)
class ToldAndLeased:
    """The answer to a tell with a lease: 200 once the told step closed (``steps`` from it on),
    202 with ``pending`` while it is still open (and ``leased`` then holds directions of it whose
    lease ran out, for this worker to take over)."""

    told: int  # the step the tell reported
    pending: list[int] | None  # what the told step still missed at the tell
    lease: LeaseAnswer

    @property
    def status(self) -> int:
        return 200 if self.lease.opened.step > self.told else 202

    def fields(self) -> dict:
        lease = self.lease.fields()
        fields = {k: lease[k] for k in ("step", "lr", "mu", "leased", "lease_seconds", "lease_expires", "steps")}
        if self.status == 202:
            fields["pending"] = self.pending or []
        elif self.lease.steps:  # the told step's record, as a tell's checksum answer has it
            first = self.lease.steps[0]
            fields.update(checksum=first["checksum"], step_lr=first["lr"], coefficients=first["coefficients"])
        return fields


@dataclass
class _NextLease:
    """What a tell with lease fields asks of the step after the one it reports, leased with its
    part (``SharedSessions._gather``); ``leased`` stays None when it could not be."""

    ask: LeaseAsk
    leased: Leased | None = None
    at: float = 0.0  # when it was granted (monotonic)
    expires: float = 0.0  # when it runs out (Unix time)


# the tell being handled in this task, if it carries lease fields (set around its ``tell_zo``)
_NEXT: ContextVar[_NextLease | None] = ContextVar("zoadamm_next_lease", default=None)


class SharedSessions(base.Sessions):
    """The session rules, plus leases of a shared step."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._moved: dict[str, asyncio.Event] = {}  # set when this process closes a step
        self._alone: set[str] = set()  # sessions whose last told step nobody else finished

    async def lease(self, tenant: str, session_id: str, x: np.ndarray | None, ask: LeaseAsk,
                    with_vectors: bool, bytes_per_value: int = 4) -> LeaseAnswer:
        """The open step with the directions leased to ``ask.worker``; waits up to ``ask.wait``
        seconds when none are free.  Raises Conflict, Invalid, NotFound."""
        deadline = time.monotonic() + min(ask.wait, MAX_WAIT_S)
        while True:
            moved = self._moved.setdefault(session_id, asyncio.Event())  # before looking: no lost wake-up
            answer, leased, seq = await self._try(tenant, session_id, x, ask, with_vectors, bytes_per_value)
            x = None  # set or checked by the first try
            left = deadline - time.monotonic()
            stop = ask.until is not None and answer.opened.step >= ask.until
            if answer.leased or stop or left <= 0:
                return answer
            nap = left if leased.others_expire_in is None else min(left, leased.others_expire_in + 0.001)
            await self._nap(session_id, moved, seq, nap)

    async def tell_and_lease(self, tenant: str, session_id: str, values: ZOValues, ask: LeaseAsk) -> ToldAndLeased:
        """Report ``values`` (a tell), then lease ``ask.worker`` directions as an ask with
        ``since`` = the told step would: the answer waits up to ``ask.wait`` for the step to
        close.  A repeated tell gets the same answer while its lease lasts (the same records, the
        directions the worker holds).  Raises Conflict, Invalid, NotFound."""
        moved = self._moved.setdefault(session_id, asyncio.Event())  # before the tell: no lost wake-up
        # a part told does not read the store's head: the lease script refuses a head that moved
        following = _NextLease(ask)
        token = _NEXT.set(following)
        try:
            told = await self.tell_zo(tenant, session_id, values, AnswerMode.CHECKSUM, look=False)
        finally:
            _NEXT.reset(token)
        if told.pending and session_id not in self._alone:
            # the other parts usually come within milliseconds: wait for them before a lease
            # looks for expired ones (a takeover waits this much longer at most)
            head = (await self._owned(tenant, session_id)).seq
            woken = await self._nap(session_id, moved, head, min(ask.wait, FIRST_NAP_S))
        else:
            woken = False
        closed = await self._closed_here(tenant, session_id, values.step, following, woken)
        if closed is not None:
            if told.pending:  # the rest was evaluated elsewhere
                self._alone.discard(session_id)
            return ToldAndLeased(values.step, told.pending, closed)
        lease = await self.lease(tenant, session_id, None, dataclasses.replace(ask, since=values.step), False)
        if told.pending:  # was the rest evaluated elsewhere, or is it this worker's to take?
            if lease.opened.step > values.step or not lease.leased:
                self._alone.discard(session_id)
            else:
                if len(self._alone) >= MAX_ALONE:
                    self._alone.clear()
                self._alone.add(session_id)  # its next such tells lease the rest at once
        return ToldAndLeased(values.step, told.pending, lease)

    async def _gather(self, replica: Replica, step: int, parts: dict[int, str]) -> split.Gathered:
        """The part, and with it the lease of the next step that its tell asks for."""
        following = _NEXT.get()
        if following is None or (following.ask.until is not None and step + 1 >= following.ask.until):
            return await super()._gather(replica, step, parts)
        cfg = replica.config
        reported, following.leased = await self.store.add_partials_and_lease(
            replica.meta.id, step, parts, replica.seq, cfg.directions, min(following.ask.count, cfg.directions),
            following.ask.worker, self.settings.lease_seconds)
        following.at, following.expires = time.monotonic(), time.time() + self.settings.lease_seconds
        return split.compare(reported, parts, cfg.directions)

    async def _closed_here(self, tenant: str, session_id: str, told: int, following: _NextLease,
                           woken: bool) -> LeaseAnswer | None:
        """The answer to a tell of step ``told`` that closed, from the lease its part took on the
        next step.  Closed by this replica: no look at the store, and no wait for the update of
        x (which runs after the answers); ``woken`` by another replica's write: this replica
        reads the new records first.  None when that lease is missing or half spent (a takeover
        went on meanwhile), or the step did not close."""
        leased = following.leased
        if leased is None or time.monotonic() - following.at > leased.seconds / 2:
            return None
        replica = await self._owned(tenant, session_id)
        if woken and replica.step == told and (replica.last is None or replica.last.step != told):
            async with replica.lock:
                await replica.catch_up(self.store)
        last, opt, cfg = replica.last, replica.optimizer, replica.config
        # the step's record is known once it is appended, before its update is applied
        if last is None or last.step != told or last.coefficients is None or opt is None \
                or replica.step not in (told, told + 1):
            return None
        opened = StepOpened(told + 1, cfg.seed, opt.mu, opt.lr, cfg.directions, cfg.distribution, cfg.difference,
                            cfg.method)
        return LeaseAnswer(opened, leased.indices, leased.seconds, [_record(last)], following.expires)

    async def _try(self, tenant: str, session_id: str, x: np.ndarray | None, ask: LeaseAsk,
                   with_vectors: bool, bytes_per_value: int) -> tuple[LeaseAnswer, Leased, int]:
        # The first try takes the step from this process's replica as it is, without reading the
        # store's head: the lease script refuses a head that moved (Conflict), and only then is
        # the replica brought up to date.  The until branch, which leases nothing, reads it.
        as_is = x is None and not with_vectors
        for _ in range(base.COMMIT_TRIES + as_is):
            opened = await (self._as_is(tenant, session_id) if as_is else
                            self.ask(tenant, session_id, x, with_vectors, bytes_per_value))
            x = None
            replica = await self._owned(tenant, session_id)
            async with replica.lock:
                await replica.settle()
                if replica.config.method != "zo-adamm":
                    raise Invalid("only zo-adamm sessions lease directions")
                seconds = self.settings.lease_seconds
                if opened is None or replica.step != opened.step:
                    as_is = False
                    continue  # no parameters in this replica yet, or a step closed in between
                if ask.until is not None and opened.step >= ask.until:
                    if as_is:
                        as_is = False
                        continue  # the answer must not be older than the store
                    leased = Leased([], seconds)
                else:
                    count = min(ask.count, replica.config.directions)
                    try:
                        leased = await self.store.lease(session_id, replica.seq, opened.step,
                                                        replica.config.directions, count, ask.worker, seconds)
                    except Conflict:
                        as_is = False
                        continue  # the head moved since we looked
                steps = _records(replica, ask.since)
                seq = replica.seq
            return LeaseAnswer(opened, leased.indices, leased.seconds, steps), leased, seq
        raise Conflict("the session is too busy to lease directions now; retry",
                       step=None if opened is None else opened.step)

    async def _as_is(self, tenant: str, session_id: str) -> StepOpened | None:
        """The open step as this process's replica has it (None before it has parameters)."""
        replica = await self._owned(tenant, session_id)
        async with replica.lock:
            return _opened(replica)

    async def follow_closes(self) -> None:
        """Wake the tells waiting in this process as soon as another replica closes their step
        (the store's notices, ``Store.closed_steps``); the waiting tells look at the store every
        ``POLL_S`` all the same, which covers a store without notices and a lost connection."""
        while True:
            try:
                async for session_id, _ in self.store.closed_steps():
                    moved = self._moved.pop(session_id, None)
                    if moved is not None:
                        moved.set()
                return  # a store without notices
            except Exception as error:  # the looks cover the gap: log, and subscribe again
                log.warning("notices of closed steps stopped (%s: %s); retrying in 1 s", type(error).__name__, error)
                await asyncio.sleep(1.0)

    async def _nap(self, session_id: str, moved: asyncio.Event, head: int, seconds: float) -> bool:
        """Sleep ``seconds`` at most: until a step of the session closes (this process closed
        it, a notice came, or the store's head moved past ``head``: True), or the time is up."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(min(left, POLL_S)):  # no task per look, unlike wait_for
                    await moved.wait()
                return True
            except TimeoutError:
                if await self.store.head(session_id) != head:
                    return True
        return False

    async def _applied(self, replica: Replica, event, mode):
        moved = self._moved.pop(replica.meta.id, None)
        if moved is not None:
            # wake the asks and tells waiting for this step first: they answer from the step's
            # record, before the deferred update of x takes the event loop
            moved.set()
        return await super()._applied(replica, event, mode)


def _opened(replica: Replica) -> StepOpened | None:
    opt, cfg = replica.optimizer, replica.config
    if opt is None:
        return None
    return StepOpened(opt.step, cfg.seed, opt.mu, opt.lr, cfg.directions, cfg.distribution, cfg.difference,
                      cfg.method)


def _records(replica: Replica, since: int | None) -> list[dict] | None:
    """The records of steps ``since`` .. open - 1, or None when this replica no longer has
    them all (the worker then reads x)."""
    if since is None or since > replica.step:
        return None
    wanted = [replica.recent.get(step) for step in range(since, replica.step)]
    if any(r is None or r.coefficients is None for r in wanted):
        return None
    return [_record(r) for r in wanted if r is not None]


def _record(step: LastStep) -> dict:
    assert step.coefficients is not None  # a ZO step's record
    return {"step": step.step, "lr": step.lr, "checksum": step.checksum_before,
            "coefficients": step.coefficients.tolist()}
