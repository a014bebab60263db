"""One budget per HTTP call for how long it waits on the store without an answer: every Redis
command (the wait for a pooled connection and a new connection's handshake included) and every
wait for a session's lock, which a request holding it may be spending on the store.  Past the
budget the call gets 503 with Retry-After.

Without it, each wait had its own timeout: ten tells queued on one session's lock behind a hung
Redis got 503 at 2, 4, ... 20 s, each waiting out the timeouts of all before it.  With one
budget (``ZOADAMM_REDIS_TIMEOUT_S``) every one of them is answered within it: a lock's wait
spends the budget, and getting the lock gives nothing back.

A command that the store answers gives the call its whole budget back (``waiting(...,
answered=True)``): the store is there.  A call of many quick commands (the dashboard's table
reads two for each of its rows, sixteen rows at once) once summed their waits, each stretched by
a busy event loop, and got "Redis is slow" from a healthy Redis.

The budget ends a wait by cancelling the calling task, as ``asyncio.timeout`` does, and unlike
it cancels again while the wait goes on: code inside the wait may swallow a cancellation.
redis-py sends every command under ``asyncio.wait_for``, which on Python 3.11 returns the
write's result when the cancellation lands in the same loop turn as the write's end (CPython
gh-86296, fixed in 3.12); the command's reply is then awaited up to the socket timeout, a whole
second budget for a call that reached Redis with little of its own left (after waiting for the
session's lock).  A cancellation that is not swallowed ends the wait at once, so the repeat
costs nothing on the path that works.

The budget is time spent *waiting*; numpy work on the call's behalf does not spend it.  It
travels in a context variable, as ``asyncio.timeout`` scopes do, because it belongs to the HTTP
call rather than to any argument: the pipeline starts it, and the store's decorator and the
replica's lock spend it.  Work with no budget (background checkpoints, the notices follower)
waits as the Redis client's own timeouts allow.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType

from ..errors import StoreUnavailable


class BudgetSpent(StoreUnavailable):
    """A call's budget of waiting for the store ran out."""


# How soon a wait that outlived its cancellation is cancelled again: short beside the budget,
# long enough that code which catches every cancellation does not make the loop spin.
RECANCEL_S = 0.01


@dataclass
class Budget:
    total_s: float
    left_s: float


_current: ContextVar[Budget | None] = ContextVar("store_budget", default=None)
_UNBOUNDED = contextlib.nullcontext()


def start(seconds: float) -> None:
    """Give the calling task (an HTTP call) ``seconds`` of waiting on the store."""
    _current.set(Budget(seconds, seconds))


async def acquire(lock: asyncio.Lock, what: str, queued: bool = False) -> None:
    """Take ``lock``; while another call holds it (or ``queued`` says others are in line), the
    wait spends the budget: the call ahead may be waiting on a store that does not answer.
    Raises StoreUnavailable when the budget runs out first (the lock not taken)."""
    if lock.locked() or queued:
        async with waiting(what, answered=False):
            await lock.acquire()
    else:  # free, and nobody in line: taken at once, with no timer to set and cancel
        await lock.acquire()


def waiting(what: str, answered: bool = True) -> _Wait | contextlib.nullcontext[None]:
    """``async with waiting(what):`` a wait on the store (or on what it holds up), bounded by
    what is left of the budget.  Raises StoreUnavailable when the budget runs out inside it.
    ``answered``: a wait that ends without error is the store's answer, and gives the call its
    whole budget back; False for a wait on what the store holds up (a session's lock)."""
    budget = _current.get()
    return _UNBOUNDED if budget is None else _Wait(budget, what, answered)


class _Wait:
    __slots__ = ("budget", "what", "answered", "task", "loop", "started", "cancelling", "cancels", "timer")

    def __init__(self, budget: Budget, what: str, answered: bool) -> None:
        self.budget, self.what, self.answered, self.cancels = budget, what, answered, 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None, "a store budget is spent by a task"
        self.task, self.loop = task, asyncio.get_running_loop()
        self.cancelling = task.cancelling()  # cancellations not ours, e.g. the client went away
        self.started = self.loop.time()
        self.timer = self.loop.call_at(self.started + max(self.budget.left_s, 0.0), self._expire)

    def _expire(self) -> None:
        # runs only while the task is suspended inside the wait, so each cancellation lands in it
        self.cancels += 1
        self.task.cancel()
        self.timer = self.loop.call_later(RECANCEL_S, self._expire)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.timer.cancel()
        if self.answered and kind is None and not self.cancels:
            self.budget.left_s = self.budget.total_s
            return
        self.budget.left_s -= self.loop.time() - self.started
        if not self.cancels:
            return
        left = self.cancelling
        for _ in range(self.cancels):
            left = self.task.uncancel()
        if kind is not None and issubclass(kind, asyncio.CancelledError) and left <= self.cancelling:
            raise BudgetSpent(f"the store (Redis) is slow or does not answer, or this service is too busy to "
                                   f"read its answer: this call waited {self.budget.total_s:g} s for {self.what} "
                                   "(ZOADAMM_REDIS_TIMEOUT_S); send the same request again: it may have been "
                                   "applied") from None
