"""Many workers on one step: the open step's q directions are leased to whichever worker asks.

An ask with a ``lease`` count answers the directions this worker should evaluate (``leased``),
leased in the store under the session's hash tag, atomically (``Store.lease``).  A lease not told
within ``ZOADAMM_LEASE_SECONDS`` goes to the next worker that asks, so a worker that dies
mid-step delays the step but never stalls it.  A worker with nothing to lease may ``wait``: the
ask answers when the step closes (``Store.wait_past``) or when another worker's lease runs out.

Workers follow x without downloading it: with ``since`` (the step their x is at) the answer
carries the records of the steps closed since, which they apply as the mirror does (same
update, same bits).  The tells are the split tells of ``domain.split``.

A tell may carry the lease fields too (``tell_and_lease``): it reports this worker's part with a
lease on the next step (``Sessions.tell_zo``'s ``next_lease``, one store call), then answers as a
waiting ask with ``since`` = the told step would.  So a worker makes one round trip per step,
and one rule covers a part that leaves its step open: the directions of the step that nobody
holds (never leased, or their lease ran out) are leased to this worker at once; while others
hold them, the tell waits for the step to close or for their lease to run out.  When the step
closes in this process, the answer comes from the lease taken with the part, without a further
look at the store.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoadamm import AnswerMode

from ..errors import Conflict, Invalid, ServiceBusy
from ..store.base import Leased
from ..turns import Yieldable
from .answers import AskAnswer, LeaseFields, StepRecordPublic, TellAnswer
from .inputs import ZOValues
from .replica import Replica
from .sessions import COMMIT_TRIES, Sessions
from .split import Granted, NextLease

MAX_WAIT_S = 30.0  # the longest an ask may block


@dataclass(frozen=True)
class LeaseAsk:
    count: int  # how many directions this worker wants to evaluate at once
    worker: str  # the holder's name: asking again gets its unexpired lease back
    wait: float = 0.0  # seconds to wait when nothing can be leased now
    since: int | None = None  # the step the worker's x is at: the answer carries the steps since
    until: int | None = None  # lease nothing on this step or later (the worker stops there)
    turn: Yieldable | None = None  # the call's admission turn, given back while it waits (``turns``)


class Leases:
    """Leases of a shared step, over the session rules of ``sessions``."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.store = sessions.store
        self.lease_seconds = sessions.settings.lease_seconds

    async def lease(self, tenant: str, session_id: str, x: np.ndarray | None, ask: LeaseAsk,
                    with_vectors: bool = False, bytes_per_value: int = 4,
                    granted: Granted | None = None) -> AskAnswer:
        """The open step with the directions leased to ``ask.worker``; waits up to ``ask.wait``
        seconds when none are free.  ``granted``: the lease a tell of step ``ask.since`` took
        with its part, which answers once that step closed here.  Raises Conflict, Invalid, NotFound."""
        if x is not None:  # refused before this x sets the session's parameters
            _check_takes_values(await self.sessions.owned(tenant, session_id))
        deadline = time.monotonic() + min(ask.wait, MAX_WAIT_S)
        woken, first_step = False, None
        while True:
            if granted is not None and ask.since is not None:
                closed = await self._closed_here(tenant, session_id, ask.since, granted, woken)
                if closed is not None:
                    return closed
            answer, leased, seq = await self._try(tenant, session_id, x, ask, with_vectors, bytes_per_value)
            x = None  # set or checked by the first try
            first_step = answer.step if first_step is None else first_step
            left = deadline - time.monotonic()
            stop = ask.until is not None and answer.step >= ask.until
            # the wait ends when something is leased, or the step it waits on closed: the one it
            # began on, or ``since`` (the worker's, or the told step) when the session is past it.
            # The answer carries the new step with what is free of it: maybe nothing, while
            # others hold it all.
            moved = answer.step != first_step or (ask.since is not None and answer.step > ask.since)
            if answer.leased or stop or left <= 0 or moved:
                return answer
            nap = left if leased.others_expire_in is None else min(left, leased.others_expire_in + 0.001)
            woken = await self.store.wait_past(session_id, seq, nap, ask.turn)

    async def tell_and_lease(self, tenant: str, session_id: str, values: ZOValues, ask: LeaseAsk) -> TellAnswer:
        """Report ``values`` (a tell) with a lease on the next step, then answer as an ask with
        ``since`` = the told step would: 200 once the told step closed, with the records from it
        on; 202 with ``pending`` while it is open, and ``leased`` then holds directions of it that
        nobody held, for this worker to take over.  A repeated tell gets the same answer while its
        lease lasts.  Raises Conflict, Invalid, NotFound."""
        following = ask.until is None or values.step + 1 < ask.until
        told = await self.sessions.tell_zo(tenant, session_id, values, AnswerMode.CHECKSUM,
                                           NextLease(ask.count, ask.worker) if following else None)
        answer = await self.lease(tenant, session_id, None, dataclasses.replace(ask, since=values.step),
                                  granted=told.next_lease)
        if told.answer.pending is not None and answer.step > values.step:
            # closed by another call, maybe in another process, still confirming its write: the
            # replicas must hold the close before this answer says so (a no-op without WAIT)
            replica = await self.sessions.owned(tenant, session_id)
            await self.store.replicated(session_id, replica.seq)
        return _told(values.step, told.answer.pending, answer)

    async def _closed_here(self, tenant: str, session_id: str, told: int, granted: Granted | None,
                           woken: bool) -> AskAnswer | None:
        """The answer to a tell of step ``told`` that closed, from the lease its part took on the
        next step.  Closed by this replica: no look at the store, and no wait for the update of
        x (which runs after the answers); ``woken`` by another replica's write: this replica
        reads the new records first.  None when that lease is missing or half spent (a takeover
        went on meanwhile), or the step did not close."""
        if granted is None or granted.leased is None or time.monotonic() - granted.at > granted.leased.lasts / 2:
            return None
        replica = await self.sessions.owned(tenant, session_id)
        if woken and replica.step == told and (replica.last is None or replica.last.step != told):
            async with replica.locked():
                await replica.catch_up(self.store)
        last = replica.last
        # the step's record is known once it is appended, before its update is applied
        if last is None or last.step != told or last.coefficients is None or replica.optimizer is None \
                or replica.step not in (told, told + 1):
            return None
        return _with_lease(replica.opened(step=told + 1), granted.leased, [last.public()], granted.expires)

    async def _try(self, tenant: str, session_id: str, x: np.ndarray | None, ask: LeaseAsk,
                   with_vectors: bool, bytes_per_value: int) -> tuple[AskAnswer, Leased, int]:
        """One look: the open step, the lease granted on it, and the head it was granted at."""
        # The first try takes the step from this process's replica as it is, without reading the
        # store's head: the lease script refuses a head that moved (Conflict), and only then is
        # the replica brought up to date.  The until branch, which leases nothing, reads it.
        as_is = x is None and not with_vectors
        opened: AskAnswer | None = None
        for _ in range(COMMIT_TRIES + as_is):
            opened = await (self._as_is(tenant, session_id) if as_is else
                            self.sessions.ask(tenant, session_id, x, with_vectors, bytes_per_value))
            x = None
            replica = await self.sessions.owned(tenant, session_id)
            async with replica.locked():
                await replica.settle()
                _check_takes_values(replica)
                if opened is None or replica.step != opened.step:
                    as_is = False
                    continue  # no parameters in this replica yet, or a step closed in between
                if ask.until is not None and opened.step >= ask.until:
                    if as_is:
                        as_is = False
                        continue  # the answer must not be older than the store
                    leased = Leased([], self.lease_seconds)
                else:
                    count = min(ask.count, replica.config.directions)
                    try:
                        leased = await self.store.lease(session_id, replica.seq, opened.step,
                                                        replica.config.directions, count, ask.worker,
                                                        self.lease_seconds, replica.meta.created, replica.tag)
                    except Conflict:
                        as_is = False
                        continue  # the head moved since we looked
                steps = replica.records(ask.since)
                seq = replica.seq
            return _with_lease(opened, leased, steps), leased, seq
        raise ServiceBusy("the session is too busy to lease directions now; retry",
                          step=None if opened is None else opened.step)

    async def _as_is(self, tenant: str, session_id: str) -> AskAnswer | None:
        """The open step as this process's replica has it (None before it has parameters)."""
        replica = await self.sessions.owned(tenant, session_id)
        async with replica.locked():
            return None if replica.optimizer is None else replica.opened()


def _with_lease(opened: AskAnswer, leased: Leased, steps: list[StepRecordPublic] | None,
                expires: float | None = None) -> AskAnswer:
    """``opened`` with its lease fields: ``expires`` (Unix time), or when the store says the lease
    runs out from now."""
    when = (expires or leased.expires()) if leased.indices else None
    lease = LeaseFields(leased=leased.indices, lease_seconds=leased.seconds, lease_expires=when, steps=steps)
    return opened.model_copy(update=lease.lease_fields())


def _told(told: int, pending: list[int] | None, lease: AskAnswer) -> TellAnswer:
    """The answer to a tell with a lease: 200 once the told step closed (the lease's records from
    it on, and the told step's record as a tell's checksum answer has it), else 202 with
    ``pending``, what the told step still missed at the tell."""
    fields: dict[str, Any] = {"step": lease.step, "lr": lease.lr, "mu": lease.mu, **lease.lease_fields()}
    if lease.step <= told:
        fields["pending"] = pending or []
    elif lease.steps:
        first = lease.steps[0]
        fields.update(checksum=first.checksum, step_lr=first.lr, coefficients=first.coefficients)
    return TellAnswer(**fields)


def _check_takes_values(replica: Replica) -> None:
    if not replica.config.takes_values:
        raise Invalid(f"a lease is of directions, which only a zo-* session has; this session's method "
                      f"is {replica.config.method!r}, which tells a gradient: ask without lease")
