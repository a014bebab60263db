"""A replica's cached copy of one session, and how it catches up with the store.

The cache is only ever trusted after a check against the store: either the head read before a
read-only answer, or the conditional append of a write (which fails if anyone else moved the
session on).  So any number of replicas can serve one session from one Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoadamm import AnswerMode, Optimizer, SessionConfig, StepRecord, wire

from ..errors import Conflict, Invalid, StoreDamaged
from ..store import Appended, Head, JournalRead, SessionMeta, Store, budget
from . import finite, journal, offload
from .answers import AskAnswer, StepRecordPublic, TellAnswer

# Records of the newest steps kept for workers that follow x from them (``domain.leases``).
RECENT_STEPS = 64


@dataclass(frozen=True)
class LastStep:
    """The newest step event, to answer a repeated tell exactly as the first time."""

    step: int
    digest: str
    lr: float
    coefficients: np.ndarray | None
    checksum_before: str | None
    parts: tuple[str, ...] | None = None  # a split step's reports, to recognise a repeated part
    mu: float | None = None

    def public(self) -> StepRecordPublic:
        """This ZO step's record as asks and tells with lease answer it."""
        assert self.coefficients is not None and self.checksum_before is not None  # a ZO step's record
        return StepRecordPublic(step=self.step, lr=self.lr, checksum=self.checksum_before,
                                                coefficients=self.coefficients.tolist())

    @classmethod
    def of(cls, event: journal.Event) -> LastStep:
        r = event.record
        assert r is not None  # a step event always carries its record
        return cls(event.step, event.digest, r.lr, r.coefficients, event.checksum_before, event.parts, event.mu)


@dataclass
class Replica:
    meta: SessionMeta
    config: SessionConfig
    optimizer: Optimizer | None = None  # None until the session has parameters
    seq: int = 0  # events applied
    tag: str = ""  # their history's, as the store chains it (``store.Head``)
    last: LastStep | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _deferred: asyncio.Future | None = None  # work still running after its answer was sent
    _waiting: int = 0  # calls waiting for the lock (every call takes it through ``locked``)
    _checksum: tuple[int, str] | None = None  # (step, checksum of x at that step)
    touched_at: float = 0.0  # when this replica last restarted the session's idle time (0: never)
    _work: np.ndarray | None = None
    recent: dict[int, LastStep] = field(default_factory=dict)  # step -> its record, the newest few
    _x_bound: float | None = None  # a bound on max |x| (``finite``); None: not known

    @property
    def work(self) -> int:
        """What one step or one ask with vectors costs (``offload.work_of``)."""
        return offload.work_of(self.config)

    @property
    def step(self) -> int:
        return self.optimizer.step if self.optimizer else 0

    @property
    def nbytes(self) -> int:
        vectors = len(self.config.method_spec.keeps) + 1 + len(self.config.vectors())  # + the work vector
        return vectors * 4 * self.config.dim if self.optimizer else 0

    @property
    def busy(self) -> bool:
        """A request holds it, or answered work is still running: never evict it then."""
        return self.lock.locked() or (self._deferred is not None and not self._deferred.done())

    def touch_due(self, ttl_s: int) -> bool:
        """Whether to restart the session's idle time now: at most every 1/20 of it, so a
        session read and never written expires between 0.95 and 1 TTL after its last call.
        With no TTL (0), once, when this replica is made: it takes off what expiry a service
        with a TTL left, before a restart with 0; the session's writes add none afterwards."""
        if not ttl_s:
            due, self.touched_at = not self.touched_at, 1.0
            return due
        now = time.monotonic()
        if now - self.touched_at < ttl_s / 20:
            return False
        self.touched_at = now
        return True

    async def touch(self, store: Store) -> None:
        """Restart the idle time in ``store`` (once ``touch_due``); a try the store refused is
        due again at the next call (under TTL 0 none would be)."""
        try:
            await store.touch(self.meta.id)  # reads count as calls too; writes refresh themselves
        except BaseException:
            self.touched_at = 0.0
            raise

    def started(self) -> Optimizer:
        """The optimizer; raises Conflict while the session has no parameters."""
        if self.optimizer is None:
            raise Conflict("the session has no parameters yet: send x with the first ask", step=0)
        return self.optimizer

    def start(self, optimizer: Optimizer) -> None:
        """Hold the session's first state, which this replica just wrote to the store."""
        self.optimizer, self.seq, self.tag, self.last, self._x_bound = optimizer, 0, "", None, None

    def checksum(self) -> str:
        step = self.step
        if self._checksum is None or self._checksum[0] != step:
            self._checksum = (step, wire.checksum(self.started().state.x))
        return self._checksum[1]

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the lock; the wait for it spends the call's budget (``store.budget``): the
        request ahead may be waiting on a store that does not answer."""
        if self.lock.locked() or self._waiting:
            self._waiting += 1
            try:
                await budget.acquire(self.lock, "the session, held by a call waiting on the store", queued=True)
            finally:
                self._waiting -= 1
        else:  # free, and nobody in line: taken at once (the tell's path)
            await self.lock.acquire()
        try:
            yield
        finally:
            self.lock.release()

    async def settle(self) -> None:
        """Wait for work that was answered before it was done."""
        if self._deferred is not None:
            task, self._deferred = self._deferred, None
            await task

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run numpy work off the event loop when it is large enough to matter (``offload``)."""
        return await offload.run_sized(self.work, fn, *args)

    async def apply_now(self, event: journal.Event) -> None:
        """Apply a journaled step before answering; its next checksum is computed after the
        answer when x is large, at once when it is small (a task would cost more than the CRC)."""
        await self.run(self.apply_event, event)
        if self.work < offload.THREAD_MIN_WORK:
            self.checksum()
        else:
            self._deferred = asyncio.ensure_future(self.run(self.checksum))

    def apply_later(self, event: journal.Event) -> None:
        """Apply a journaled step while the client evaluates the next one: an answer that
        carries no x does not need it.  ``last`` is known at once, for a repeat's answer."""
        self.last = LastStep.of(event)
        self._deferred = asyncio.ensure_future(self.run(self._apply_then_checksum, event))

    def apply_event(self, event: journal.Event) -> None:
        optimizer = self.started()
        if event.kind == journal.METRIC:
            assert event.value is not None
            optimizer.report(event.value)
        else:
            assert event.record is not None
            if self._work is None:
                self._work = np.empty(self.config.dim, dtype=np.float32)
            try:
                optimizer.apply(event.record, self._work)
            except BaseException:
                # a step stopped half way (moments moved, x not yet projected) is no state to go
                # on from, nor to apply the step again to: the next read replays the store's
                self.optimizer = None
                raise
            self.last = LastStep.of(event)
            self.recent[event.step] = self.last
            if len(self.recent) > RECENT_STEPS:
                del self.recent[next(iter(self.recent))]
            if self._x_bound is not None:
                self._x_bound += finite.step_bound(self.config, event.record.lr)
        self.seq += 1

    def _apply_then_checksum(self, event: journal.Event) -> None:
        self.apply_event(event)
        self.checksum()

    async def append(self, store: Store, event: bytes, **options: Any) -> Appended:
        """``store.append`` of ``event`` after this copy's newest one, conditional on its count and
        history; the copy's tag follows a write (the caller applies the event)."""
        appended = await store.append(self.meta.id, self.seq, event, created=self.meta.created, tag=self.tag,
                                      **options)
        if appended.replayed is None:
            self.tag = appended.tag
        return appended

    def holds(self, head: Head) -> bool:
        """Whether this copy is the store's session at ``head``: as many events, of one history."""
        return head.seq == self.seq and head.tag == self.tag and self.optimizer is not None

    async def catch_up(self, store: Store, head: Head | None = None) -> None:
        """Make this copy equal to the store's session (no-op when ``head`` says it already is)."""
        await self.settle()
        if head is not None and self.holds(head):
            return
        try:
            read = await (store.read(self.meta.id, None) if self.optimizer is None
                          else store.read(self.meta.id, self.seq, self.tag))
        except Conflict:  # no parameters yet
            self.optimizer, self.seq = None, 0
            return
        await self.run(self._replay, read)

    def _replay(self, read: JournalRead) -> None:
        self._x_bound = None
        try:
            if read.checkpoint is not None:
                self.optimizer, self.seq, last = journal.decode_checkpoint(read.checkpoint, self.config)
                self.last = None if last is None else LastStep.of(last)
            for blob in read.events:
                self.apply_event(journal.decode_event(blob))
            self.tag = read.tag
        except ValueError as error:  # records changed by hand or by a fault: the store's damage, not the request's
            self.optimizer, self.seq, self.tag, self.last = None, 0, "", None  # nothing half replayed is kept
            raise StoreDamaged(f"session {self.meta.id}'s records in Redis cannot be replayed ({error}): they were "
                               "changed outside the service") from error

    def is_repeat(self, step: int, digest: str, parts: dict[int, str] | None = None) -> bool:
        """Whether these values are the ones step ``step`` was applied with (the newest step only)."""
        last = self.last
        if last is None or last.step != step or self.step != step + 1:
            return False
        if parts is None:
            return last.digest == digest
        return last.parts is not None and all(last.parts[i] == row for i, row in parts.items())

    async def check_finite(self, record: StepRecord) -> None:
        """Raises Invalid when applying ``record`` would leave a non-finite value in the state
        (``finite``): a scalar bound on max |x| decides almost every step."""
        bound = finite.step_bound(self.config, record.lr)
        if self._x_bound is None or self._x_bound + bound >= finite.X_LIMIT:
            self._x_bound = await self.run(finite.max_abs, self.started().state.x)
        if self._x_bound + bound < finite.X_LIMIT:
            return
        if not await self.run(finite.finite_after, self.started(), record):
            raise Invalid(
                "this step would take the parameters beyond float32's range (a non-finite x); "
                "the session is unchanged: send other values for this step", step=record.step,
            )

    def answer(self, mode: AnswerMode, next_step: int | None = None) -> TellAnswer:
        """The answer to the newest step (``next_step`` when it is not applied yet)."""
        opt, last = self.started(), self.last
        assert last is not None
        # lr and mu as the step left them, so a repeat after a metric still gets the same answer
        lr, mu = (opt.lr, opt.mu) if last.mu is None else (last.lr, last.mu)
        step = self.step if next_step is None else next_step
        if mode is AnswerMode.CHECKSUM:
            assert last.checksum_before is not None  # every step event keeps it
            coefficients = None if last.coefficients is None else last.coefficients.tolist()
            return TellAnswer(step=step, lr=lr, mu=mu, step_lr=last.lr,
                                              checksum=last.checksum_before, coefficients=coefficients)
        return TellAnswer(step=step, lr=lr, mu=mu, x=opt.state.x)

    def pending(self, missing: list[int]) -> TellAnswer:
        opt = self.started()
        return TellAnswer(step=opt.step, lr=opt.lr, mu=opt.mu, pending=missing)

    def opened(self, step: int | None = None, u: np.ndarray | None = None) -> AskAnswer:
        """The open step (``step`` when the replica's optimizer is not there yet) as an ask
        answers it, with the directions ``u`` when they go along."""
        opt, cfg = self.started(), self.config
        fields = {} if u is None else {"u": u}
        return AskAnswer(
            step=opt.step if step is None else step, seed=cfg.seed, mu=opt.mu, lr=opt.lr,
            directions=cfg.directions, distribution=cfg.distribution, difference=cfg.difference,
            method=cfg.method, **fields)

    def records(self, since: int | None) -> list[StepRecordPublic] | None:
        """The records of steps ``since`` .. open - 1, or None when this replica no longer has
        them all (the worker then reads x)."""
        if since is None or since > self.step:
            return None
        wanted = [self.recent.get(step) for step in range(since, self.step)]
        if any(r is None or r.coefficients is None for r in wanted):
            return None
        return [r.public() for r in wanted if r is not None]
