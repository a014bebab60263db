"""The embedded store: the Redis store and its scripts, on an in-process Redis (fakeredis, which
runs the scripts' Lua with lupa).  So each storage rule (the conditional append, leases,
idempotency, the trace's downsampling, the metric history, replication's, the tenant's quota) is
written once, in the Lua of ``scripts``, ``split_scripts``, ``metric_scripts``, ``replication``
and ``tenant_index``, whichever store runs it.

For one machine and one process: nothing survives the process, and no other process can see
its sessions.  Use Redis for anything that must outlive it or be shared.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from fakeredis import FakeServer
from fakeredis.aioredis import FakeRedis

from .redis import MAX_CONNECTIONS, RedisStore


class MemoryStore(RedisStore):
    def __init__(self, ttl_s: int = 0) -> None:
        # A pool that waits for a free connection, as the Redis store's does: fakeredis's own
        # pool fails at once past its size ("Too many connections", a 503) when a burst of
        # concurrent calls wants more connections than it holds.
        client = FakeRedis(server=FakeServer(), connection_pool_class=aioredis.BlockingConnectionPool,
                           max_connections=MAX_CONNECTIONS)
        super().__init__(client, ttl_s, alone=True)
