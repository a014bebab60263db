"""A replica's cached copy of one session, and how it catches up with the store.

The cache is only ever trusted after a check against the store: either the head read before a
read-only answer, or the conditional append of a write (which fails if anyone else moved the
session on).  So any number of replicas can serve one session from one Redis.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import anyio
import numpy as np
from zoadamm import Optimizer, SessionConfig, wire

from ..errors import Conflict
from ..store import SessionMeta, Store
from . import journal

# Below this size a step costs less than a thread hop; above it, numpy work leaves the event loop.
THREAD_MIN_DIM = 1 << 16


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

    @classmethod
    def of(cls, event: journal.Event) -> "LastStep":
        r = event.record
        return cls(event.step, event.digest, r.lr, r.coefficients, event.checksum_before, event.parts, event.mu)


@dataclass
class Replica:
    meta: SessionMeta
    config: SessionConfig
    optimizer: Optimizer | None = None  # None until the session has parameters
    seq: int = 0  # events applied
    last: LastStep | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deferred: asyncio.Task | None = None  # an update still being applied after its answer
    _checksum: tuple[int, str] | None = None  # (step, checksum of x at that step)
    _work: np.ndarray | None = None

    @property
    def step(self) -> int:
        return self.optimizer.step if self.optimizer else 0

    @property
    def nbytes(self) -> int:
        return 5 * 4 * self.config.dim if self.optimizer else 0

    def checksum(self) -> str:
        step = self.step
        if self._checksum is None or self._checksum[0] != step:
            self._checksum = (step, wire.checksum(self.optimizer.state.x))
        return self._checksum[1]

    async def settle(self) -> None:
        """Wait for an update that was answered before it was applied."""
        if self.deferred is not None:
            task, self.deferred = self.deferred, None
            await task

    async def run(self, fn, *args):
        """Run numpy work off the event loop when it is large enough to matter."""
        if self.config.dim >= THREAD_MIN_DIM:
            return await anyio.to_thread.run_sync(fn, *args)
        return fn(*args)

    def apply_event(self, event: journal.Event) -> None:
        if event.kind == journal.METRIC:
            self.optimizer.report(event.value)
        else:
            if self._work is None:
                self._work = np.empty(self.config.dim, dtype=np.float32)
            self.optimizer.apply(event.record, self._work)
            self.last = LastStep.of(event)
        self.seq += 1

    def apply_then_checksum(self, event: journal.Event) -> None:
        """Deferred work: the update, then the checksum the next answer will carry."""
        self.apply_event(event)
        self.checksum()

    async def catch_up(self, store: Store, head: int | None = None) -> None:
        """Make this copy equal to the store's session (no-op when ``head`` says it already is)."""
        await self.settle()
        if head is not None and head == self.seq and self.optimizer is not None:
            return
        try:
            read = await store.read(self.meta.id, None if self.optimizer is None else self.seq)
        except Conflict:  # no parameters yet
            self.optimizer, self.seq = None, 0
            return
        await self.run(self._replay, read)

    def _replay(self, read) -> None:
        if read.checkpoint is not None:
            self.optimizer, self.seq, last = journal.decode_checkpoint(read.checkpoint, self.config)
            self.last = None if last is None else LastStep.of(last)
        for blob in read.events:
            self.apply_event(journal.decode_event(blob))

    def drop(self) -> None:
        self.optimizer, self.seq, self.last, self._checksum = None, 0, None, None
