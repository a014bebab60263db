"""A tenant's index: its session ids by creation time (a sorted set, which ``list`` pages
through) and the bytes of state each session holds (a hash in the same slot), and the quota a
create is admitted under (``ADMIT``, below).

Both keys forget a session together.  Sessions that expired (``ZOADAMM_SESSION_TTL_S``), and a
create or delete cut off between its writes, leave ids behind: a create refused by the quota
prunes them and tries once more, so a tenant is never refused for sessions it no longer has.
A create is listed before its session is written (another slot, another script): pruning
spares the ids listed within ``SETTLING_S`` (or the idle lifetime, when shorter, which expired
sessions are older than), else a create refused meanwhile would forget a session being made
and take its place past the quota.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from .. import keys
from ..errors import QuotaExceeded
from . import replies
from .base import Quota, SessionMeta

SETTLING_S = 60.0  # far longer than a create's writes take within their Redis budgets

# KEYS: the tenant's index, its sizes; ARGV: id, created, max sessions, size, max bytes (0: no limit)
# Admits a new session under the quota: {1}; {0} at the most sessions; {-1, bytes held} when its
# size would take the tenant past the most bytes.  An id already listed (a repeated create) is admitted.
ADMIT = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1} end
local limit = tonumber(ARGV[3])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return {0} end
local most = tonumber(ARGV[5])
if most > 0 then
  local held = 0
  for _, size in ipairs(redis.call('HVALS', KEYS[2])) do held = held + tonumber(size) end
  if held + tonumber(ARGV[4]) > most then return {-1, held} end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
return {1}
"""

# KEYS: a tenant's index, its sizes.  Forgets the sizes of ids the index does not list (a delete cut
# off between its two writes).
FORGET_UNLISTED = """
for _, id in ipairs(redis.call('HKEYS', KEYS[2])) do
  if not redis.call('ZSCORE', KEYS[1], id) then redis.call('HDEL', KEYS[2], id) end
end
"""


class TenantIndex:
    def __init__(self, client: Redis | RedisCluster) -> None:
        self._redis = client
        self._admit = client.register_script(ADMIT)
        self._forget_unlisted = client.register_script(FORGET_UNLISTED)

    async def page(self, tenant: str, offset: int, limit: int) -> tuple[list[SessionMeta], int, int]:
        """A page of the tenant's index: its sessions, the index's length, and how many of the
        page's ids had no session."""
        index = keys.tenant_sessions(tenant)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrange(index, offset, offset + limit - 1)
            pipe.zcard(index)
            ids, total = await pipe.execute()
        async with self._redis.pipeline(transaction=False) as pipe:  # split per node on a cluster
            for raw in ids:
                pipe.hmget(keys.meta(raw.decode()), *replies.META_FIELDS)
            rows = await pipe.execute()
        metas = [replies.meta(raw.decode(), f) for raw, f in zip(ids, rows, strict=True) if f[0] is not None]
        return metas, total, len(ids) - len(metas)

    async def admit(self, meta: SessionMeta, quota: Quota, ttl_s: int) -> None:
        """List ``meta``'s session under its tenant, or raise QuotaExceeded.  ``ttl_s``: the
        sessions' idle lifetime (0: none)."""
        index = [keys.tenant_sessions(meta.tenant), keys.tenant_sizes(meta.tenant)]
        args: list[str | float] = [meta.id, meta.created, quota.sessions, quota.size, quota.bytes]
        reply = await self._admit(keys=index, args=args)
        if reply[0] != 1:
            await self.prune(meta.tenant, ttl_s)
            reply = await self._admit(keys=index, args=args)
        if reply[0] == 0:
            raise QuotaExceeded(f"this tenant has {quota.sessions} sessions, its limit (ZOADAMM_MAX_SESSIONS): "
                                "delete one (DELETE /v1/sessions/{id}) before creating another")
        if reply[0] == -1:
            raise QuotaExceeded(
                f"this tenant's sessions hold {int(reply[1]):,} bytes of state and this one needs {quota.size:,} "
                f"more, past its limit of {quota.bytes:,} (ZOADAMM_MAX_TENANT_BYTES): delete sessions it no "
                "longer needs (DELETE /v1/sessions/{id}), or make this one smaller")

    async def forget(self, tenant: str, *session_ids: str) -> None:
        """Take sessions off their tenant's index (a delete, a create undone, an expired session)."""
        if session_ids:
            await self._redis.zrem(keys.tenant_sessions(tenant), *session_ids)
            await self._redis.hdel(keys.tenant_sizes(tenant), *session_ids)

    async def prune(self, tenant: str, ttl_s: int) -> None:
        """Forget the listed ids whose session is gone (of those listed before the last
        ``SETTLING_S``), and sizes that no listed id has."""
        index = keys.tenant_sessions(tenant)
        settled = time.time() - (min(SETTLING_S, ttl_s) if ttl_s else SETTLING_S)
        ids = [replies.text(raw) for raw in await self._redis.zrangebyscore(index, "-inf", settled)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.exists(keys.meta(session_id))
            alive = await pipe.execute()
        gone = [session_id for session_id, exists in zip(ids, alive, strict=True) if not exists]
        await self.forget(tenant, *gone)
        await self._forget_unlisted(keys=[index, keys.tenant_sizes(tenant)])
