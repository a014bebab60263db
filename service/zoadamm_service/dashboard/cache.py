"""A time-to-live cache with single flight: however many callers ask for a key, one load runs
at a time, and its answer serves them all until it expires.  This is what makes twenty open
dashboard pages cost the store what one does."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Hashable

MAX_KEYS = 4096


class SharedLoads:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[Hashable, tuple[float, asyncio.Future]] = {}
        self.loads = 0  # how many loads ran (tests and benchmarks read it)

    async def get(self, key: Hashable, load: Callable[[], Awaitable]):
        """The cached answer for ``key``, or ``load()``'s; its exceptions reach every waiter."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None or (entry[1].done() and entry[0] <= now):
            if len(self._entries) >= MAX_KEYS:
                self._drop_expired(now)
            self.loads += 1
            entry = (now + self.ttl_s, asyncio.ensure_future(load()))
            self._entries[key] = entry
            entry[1].add_done_callback(functools.partial(self._forget_failed, key))
        return await asyncio.shield(entry[1])

    def _forget_failed(self, key: Hashable, fut: asyncio.Future) -> None:
        if not fut.cancelled() and fut.exception() is None:
            return
        if self._entries.get(key, (0, None))[1] is fut:
            del self._entries[key]  # an error is not cached: the next caller tries again

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, (expires, fut) in self._entries.items() if fut.done() and expires <= now]:
            del self._entries[key]
