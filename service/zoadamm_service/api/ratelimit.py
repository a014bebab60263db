"""Rate limits per API key (``ZOADAMM_RATE_LIMIT``, e.g. ``200/second``) and on failed
authentications per client address (``ZOADAMM_AUTH_FAIL_LIMIT``, ``LimitFailedKeys``), with the ``limits``
package: a sliding-window counter kept in Redis when Redis is the store, so every replica
counts against the same window, else in this process.  Over the limit: 429 with Retry-After.

A gate of the ``pipeline`` after ``auth.Authenticate``, which has put the key's id (a digest,
never the key) on the request; like it, it sees every ``/v1`` call, the tell included.

Counts are taken from the window in batches of 1% of the limit (``BATCH_SHARE``; 1 for limits
under 200), or of as many as the key's calls in line for them when more, up to a tenth of the
limit (``LINE_SHARE``): a replica that takes a batch admits that many of the key's calls without
asking Redis again, for one window at most.  So the per-step tell makes one Redis round trip
instead of two, a key never passes its limit, and a replica may refuse up to a batch early
(counts it took and did not use: a call in line that was cancelled leaves its count; a fetch
that outlasts the call's budget, a tenth of the limit at most).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import Scope

from ..errors import StoreUnavailable
from ..settings import REDIS_MAX_CONNECTIONS
from ..store import budget
from .auth import PROTECTED, UNKNOWN
from .pipeline import Gate, Refusal

log = logging.getLogger("zoadamm.service")
BATCH_SHARE = 100  # a batch of counts is the limit divided by this (1% of it)
LINE_SHARE = 10  # the counts fetched for a line of calls: at most a tenth of the limit


def counters(redis_url: str | None, cluster: bool = False,
             max_connections: int = REDIS_MAX_CONNECTIONS) -> tuple[Storage, Callable[[], Awaitable[None]]]:
    """Where the ``limits`` counters live: Redis when Redis is the store (every replica counts
    against the same window), else this process.  On one Redis, through a pool of
    ``max_connections`` that a check waits on for a free connection (within the call's store
    budget), as the store's pool does: redis-py's own pool refuses at once when all its
    connections are in use, and a burst of calls got 503.  With the storage, what closes its
    connections at the app's end (one left open outlives its event loop)."""
    if redis_url and cluster:
        nodes = redis_url.split("://", 1)[1].split("/", 1)[0]  # any node: the client finds the rest
        storage = RedisClusterStorage(f"async+redis+cluster://{nodes}", implementation="redispy",
                                      key_prefix="zoadamm:ratelimit")
        return storage, lambda: storage.bridge.storage.aclose()  # type: ignore[attr-defined]  # redis-py's client
    if redis_url:
        pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=max_connections, timeout=None)
        # limits types its options as scalars; its redis-py bridge takes a pool as connection_pool
        return RedisStorage("async+" + redis_url, implementation="redispy", key_prefix="zoadamm:ratelimit",
                            connection_pool=pool), pool.aclose  # type: ignore[arg-type]
    return MemoryStorage(), _nothing


async def _nothing() -> None:
    return None


async def seconds_left(limiter: SlidingWindowCounterRateLimiter, limit: RateLimitItem, who: str) -> int:
    """The Retry-After of a refusal: when ``who``'s window has room again."""
    stats = await limiter.get_window_stats(limit, who)
    return max(1, math.ceil(stats.reset_time - time.time()))


class Throttle:
    def __init__(self, limit: str, redis_url: str | None, cluster: bool = False, retry_after_s: int = 1,
                 max_connections: int = REDIS_MAX_CONNECTIONS) -> None:
        """``retry_after_s``: the Retry-After of the 503 when the counters' store does not
        answer (``ZOADAMM_RETRY_AFTER_S``); ``max_connections``: the counters' pool on one
        Redis (``ZOADAMM_REDIS_MAX_CONNECTIONS``).  Raises ValueError for a limit the
        ``limits`` notation does not read."""
        retry_after = ((b"retry-after", str(retry_after_s).encode()),)
        self.unavailable = Refusal(503, "the store (Redis) does not answer; retry", retry_after)
        self.queued_too_long = Refusal(503, "the rate limit's counters did not come in time: the store (Redis) "
                                            "is slow or does not answer, or more of this API key's calls came at "
                                            "once than they could be fetched for; retry", retry_after)
        self.limit: RateLimitItem = parse(limit)
        storage, self.aclose = counters(redis_url, cluster, max_connections)  # aclose: at the app's end
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.batch = max(1, self.limit.amount // BATCH_SHARE)
        self.line_most = max(1, self.limit.amount // LINE_SHARE)
        self._taken: dict[str, tuple[int, float]] = {}  # key id -> (counts taken, unused; usable until)
        # key id -> the lock of its batches: the calls that find no counts left wait for one batch
        # together, where each took a batch of its own and used one count of it (a burst far below
        # the limit took most of a minute's counts and was refused for the rest of it)
        self._fetching: dict[str, asyncio.Lock] = {}
        # key id -> calls in line for its lock: the batch fetched covers them all, where a batch of
        # 1% of the limit covered a few and the rest waited for a round trip each (a burst of
        # creates outlasted its budget in line: 503 while Redis was well)
        self._waiting: dict[str, int] = {}

    def _take(self, who: str) -> bool:
        left, until = self._taken.get(who, (0, 0.0))
        if left and time.monotonic() < until:
            self._taken[who] = (left - 1, until)
            return True
        return False

    async def check(self, scope: Scope) -> Refusal | None:
        if not scope["path"].startswith(PROTECTED):
            return None
        who = scope["state"]["key_id"]
        if self._take(who):
            return None
        lock = self._fetching.setdefault(who, asyncio.Lock())
        self._waiting[who] = self._waiting.get(who, 0) + 1
        try:  # the call ahead may wait on counters that do not answer: within the call's budget
            await budget.acquire(lock, "the rate limit's counters, held by a call waiting on them")
        except StoreUnavailable:
            return self.queued_too_long
        finally:
            self._waiting[who] -= 1
            if not self._waiting[who]:
                del self._waiting[who]
        try:
            if self._take(who):  # a batch came while this call waited
                return None
            return await self._fetch(who)
        finally:
            lock.release()

    async def _fetch(self, who: str) -> Refusal | None:
        now = time.monotonic()
        # a batch, or the line: at most a tenth of the limit, which a fetch that outlasts the
        # budget loses (Redis counts it; the calls got 503)
        wanted = max(self.batch, min(1 + self._waiting.get(who, 0), self.line_most))  # both within the limit
        try:
            async with budget.waiting("the rate limit's counters"):
                taken = wanted if await self.limiter.hit(self.limit, who, cost=wanted) else 0
                if not taken:  # the window has less left than that: what it has, if any
                    stats = await self.limiter.get_window_stats(self.limit, who)
                    left = min(stats.remaining, wanted)
                    if left and await self.limiter.hit(self.limit, who, cost=left):
                        taken = left
                    wait = max(1, math.ceil(stats.reset_time - time.time()))
        except Exception:  # the counters' store is down: so is the service's
            log.warning("the rate limit's store does not answer", exc_info=True)
            return self.unavailable
        if taken:
            if taken > 1:
                self._taken[who] = (taken - 1, now + self.limit.get_expiry())
            return None
        return Refusal(429, f"over the rate limit of {self.limit} per API key; retry in {wait} s",
                       ((b"retry-after", str(wait).encode()),))


class LimitFailedKeys:
    """Failed authentications per client address (``ZOADAMM_AUTH_FAIL_LIMIT``): a gate around
    ``auth.Authenticate`` that counts each 401 it gives an address; past the limit that address
    gets 429 with Retry-After instead, so a client guessing keys is told to stop.  A call with
    no key is no guess, and neither counts nor is refused here: behind one balancer address,
    keyless calls (a dashboard opened before its key is given) would lock out every keyless caller.  A good key is
    never refused here, from any address: the limit cannot lock a tenant out."""

    def __init__(self, authenticate: Gate, limit: str, redis_url: str | None, cluster: bool = False,
                 max_connections: int = REDIS_MAX_CONNECTIONS) -> None:
        """Raises ValueError for a limit the ``limits`` notation does not read."""
        self.authenticate = authenticate
        self.limit: RateLimitItem = parse(limit)
        storage, self.aclose = counters(redis_url, cluster, max_connections)  # aclose: at the app's end
        self.limiter = SlidingWindowCounterRateLimiter(storage)

    async def check(self, scope: Scope) -> Refusal | None:
        refusal = await self.authenticate.check(scope)
        if refusal is not UNKNOWN:  # no key at all guesses none: a page before its key is given
            return refusal
        address = f"auth-failures:{(scope.get('client') or ('unknown',))[0]}"
        try:
            async with budget.waiting("the failed-authentication counters"):
                if await self.limiter.hit(self.limit, address):
                    return refusal
                wait = await seconds_left(self.limiter, self.limit, address)
        except Exception:  # the counters' store is down: the key is still unknown
            log.warning("the failed-authentication limit's store does not answer", exc_info=True)
            return refusal
        # the challenge of the 401 it stands for: a client knows the key is the problem, and
        # that retrying the same key is no use
        return Refusal(429, f"too many failed authentications from this address (ZOADAMM_AUTH_FAIL_LIMIT: "
                            f"{self.limit}); retry in {wait} s",
                       ((b"retry-after", str(wait).encode()), *refusal.headers))
