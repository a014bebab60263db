"""One budget per HTTP call for all of its waits on the store: every Redis command (the wait for
a pooled connection included) and every wait for a session's lock, which a request holding it
may be spending on the store.  Past the budget the call gets 503 with Retry-After.

Without it, each wait had its own timeout: ten tells queued on one session's lock behind a hung
Redis got 503 at 2, 4, ... 20 s, each waiting out the timeouts of all before it.  With one
budget (``ZOADAMM_REDIS_TIMEOUT_S``) every one of them is answered within it.

The budget is time spent *waiting*; numpy work on the call's behalf does not spend it.  It
travels in a context variable, as ``asyncio.timeout`` scopes do, because it belongs to the HTTP
call rather than to any argument: the pipeline starts it, and the store's decorator and the
replica's lock spend it.  Work with no budget (background checkpoints, the notices follower)
waits as the Redis client's own timeouts allow.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType

from ..errors import StoreUnavailable


@dataclass
class Budget:
    total_s: float
    left_s: float


_current: ContextVar[Budget | None] = ContextVar("store_budget", default=None)


def start(seconds: float) -> None:
    """Give the calling task (an HTTP call) ``seconds`` of waiting on the store."""
    _current.set(Budget(seconds, seconds))


class waiting:  # lower case: it reads as a function, ``async with budget.waiting(what)``
    """A wait on the store (or on what it holds up), bounded by what is left of the budget.
    Raises StoreUnavailable when the budget runs out inside it.  A class rather than a
    generator: it runs around every store call."""

    __slots__ = ("what", "budget", "started", "timer")

    def __init__(self, what: str) -> None:
        self.what = what

    async def __aenter__(self) -> None:
        self.budget = budget = _current.get()
        if budget is not None:
            self.started = time.monotonic()
            self.timer = asyncio.timeout(max(budget.left_s, 0.0))
            await self.timer.__aenter__()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> bool:
        budget = self.budget
        if budget is None:
            return False
        try:
            await self.timer.__aexit__(kind, error, traceback)
        except TimeoutError:  # the budget ran out: the wait was cancelled
            kind = TimeoutError
        finally:
            budget.left_s -= time.monotonic() - self.started
        if kind is not None and issubclass(kind, TimeoutError):
            raise StoreUnavailable(f"the store (Redis) is slow or does not answer: this call waited "
                                   f"{budget.total_s:g} s for {self.what} (ZOADAMM_REDIS_TIMEOUT_S); retry") from None
        return False
