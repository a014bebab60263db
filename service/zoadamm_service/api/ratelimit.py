"""Rate limits per API key (``ZOADAMM_RATE_LIMIT``, e.g. ``200/second``), with the ``limits``
package: a sliding-window counter kept in Redis when Redis is the store, so every replica
counts against the same window, else in this process.  Over the limit: 429 with Retry-After.

A pure ASGI middleware inside ``auth.BearerAuth``, which has put the key's id (a digest, never
the key) on the request; like it, it sees every ``/v1`` call, the tell included.
"""

from __future__ import annotations

import json
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from .auth import PROTECTED

log = logging.getLogger("zoadamm.service")


def rate_limiter(limit: str, redis_url: str | None,
                 cluster: bool = False) -> tuple[RateLimitItem, SlidingWindowCounterRateLimiter]:
    """Raises ValueError for a limit the ``limits`` notation does not read."""
    storage: Storage
    if redis_url and cluster:
        nodes = redis_url.split("://", 1)[1].split("/", 1)[0]  # any node: the client finds the rest
        storage = RedisClusterStorage(f"async+redis+cluster://{nodes}", implementation="redispy",
                                      key_prefix="zoadamm:ratelimit")
    elif redis_url:
        storage = RedisStorage("async+" + redis_url, implementation="redispy", key_prefix="zoadamm:ratelimit")
    else:
        storage = MemoryStorage()
    return parse(limit), SlidingWindowCounterRateLimiter(storage)


class RateLimit:
    def __init__(self, app: ASGIApp, limit: RateLimitItem, limiter: SlidingWindowCounterRateLimiter) -> None:
        self.app = app
        self.limit = limit
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED):
            who = scope["state"]["key_id"]
            try:
                allowed = await self.limiter.hit(self.limit, who)
                wait = 0 if allowed else await self._wait(who)
            except Exception:  # the counters' store is down: so is the service's
                log.warning("the rate limit's store does not answer", exc_info=True)
                await answer(send, 503, "the store (Redis) does not answer; retry", 1)
                return
            if not allowed:
                await answer(send, 429, f"over the rate limit of {self.limit} per API key; retry in {wait} s", wait)
                return
        await self.app(scope, receive, send)

    async def _wait(self, who: str) -> int:
        stats = await self.limiter.get_window_stats(self.limit, who)
        return max(1, math.ceil(stats.reset_time - time.time()))


async def answer(send: Send, status: int, detail: str, retry_after: int) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode())],
    })
    await send({"type": "http.response.body", "body": body})
