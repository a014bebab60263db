"""A time-to-live cache with single flight: however many callers ask for a key, one load runs
at a time, and its answer serves them all until it expires.  This is what makes twenty open
dashboard pages cost the store what one does.

It is bounded in bytes, not only in keys: every distinct page a client asks for (a cursor, a
limit) is a key of its own, so a client walking cursors would otherwise fill memory with
answers nobody asks for again.  Each answer is weighed when its load ends; past ``max_bytes``
the oldest answers go first, and expired ones go at most once per time-to-live."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

MAX_BYTES = 64 << 20


class SharedLoads:
    def __init__(self, ttl_s: float, max_bytes: int = MAX_BYTES) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        # insertion order is age: the first entries are the oldest loads
        self._entries: dict[Hashable, tuple[float, asyncio.Future]] = {}
        self._weights: dict[Hashable, int] = {}  # the answers' bytes, of the loads that ended
        self.held_bytes = 0
        self._swept = 0.0
        self.loads = 0  # how many loads ran (tests and benchmarks read it)

    async def get(self, key: Hashable, load: Callable[[], Awaitable], weigh: Callable[[Any], int] = lambda _: 0):
        """The cached answer for ``key``, or ``load()``'s; its exceptions reach every waiter.
        ``weigh``: about how many bytes the answer holds."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None or (entry[1].done() and entry[0] <= now):
            self._sweep(now)
            self._drop(key)
            self.loads += 1
            entry = (now + self.ttl_s, asyncio.ensure_future(load()))
            self._entries[key] = entry
            entry[1].add_done_callback(functools.partial(self._settled, key, weigh))
        return await asyncio.shield(entry[1])

    def _settled(self, key: Hashable, weigh: Callable[[Any], int], fut: asyncio.Future) -> None:
        if self._entries.get(key, (0, None))[1] is not fut:
            return  # dropped while it loaded
        if fut.cancelled() or fut.exception() is not None:
            del self._entries[key]  # an error is not cached: the next caller tries again
            return
        self._weights[key] = weigh(fut.result())
        self.held_bytes += self._weights[key]
        for old in list(self._entries):
            if self.held_bytes <= self.max_bytes or old == key:
                break
            if self._entries[old][1].done():
                self._drop(old)

    def _sweep(self, now: float) -> None:
        """Drop the expired answers, at most once per time-to-live (a walk over every key)."""
        if now - self._swept < self.ttl_s:
            return
        self._swept = now
        for key in [k for k, (expires, fut) in self._entries.items() if fut.done() and expires <= now]:
            self._drop(key)

    def _drop(self, key: Hashable) -> None:
        self._entries.pop(key, None)
        self.held_bytes -= self._weights.pop(key, 0)
