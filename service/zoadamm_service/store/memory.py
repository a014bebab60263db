"""The embedded store: the Redis store and its scripts, on an in-process Redis (fakeredis, which
runs the scripts' Lua with lupa).  So each storage rule (the conditional append, leases,
idempotency, the trace's downsampling) is written once, in ``scripts``, whichever store runs it.

For one machine and one process: nothing survives the process, and no other process can see
its sessions.  Use Redis for anything that must outlive it or be shared.
"""

from __future__ import annotations

from fakeredis import FakeServer
from fakeredis.aioredis import FakeRedis

from .redis import RedisStore


class MemoryStore(RedisStore):
    def __init__(self, ttl_s: int = 0) -> None:
        super().__init__(FakeRedis(server=FakeServer()), ttl_s, alone=True)
