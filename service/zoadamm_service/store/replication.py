"""Acknowledge a write only once replicas hold it (``ZOADAMM_REDIS_WAIT_REPLICAS``, Redis WAIT).

Redis replicates asynchronously: a master that dies right after answering can take an
acknowledged step with it, and the replica promoted in its place never had it.  WAIT n t blocks
until n replicas hold every write made *on that connection*, so the check runs on one
connection to the master of the session's slot: a tiny script that writes a probe key (the
connection's offset is then the master's newest, which covers every earlier write of the
session, from any connection) and returns the session's head on that master, then WAIT.

A head there below the one being acknowledged means this master lacks the step (a failover
lost it): the answer is 503, and the client's retry finds the step open again.  Too few
replicas in time is a 503 too; the write stays, and a retry answers it once it is replicated.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from .. import keys
from ..errors import StoreUnavailable

# KEYS: meta, probe.  Returns the session's head on this master (-1: no session).
PROBE = """
redis.call('SET', KEYS[2], '1', 'PX', 10000)
return tonumber(redis.call('HGET', KEYS[1], 'head') or '-1')
"""


class Replication:
    def __init__(self, client: Redis | RedisCluster, replicas: int, timeout_ms: int) -> None:
        self._redis = client
        self.replicas = replicas
        self.timeout_ms = timeout_ms

    async def confirm(self, session_id: str, head: int) -> None:
        """Return once ``replicas`` replicas hold the session up to event ``head``.  Raises
        StoreUnavailable when they do not within the timeout, or the master lacks the event."""
        if not self.replicas:
            return
        meta = keys.meta(session_id)
        cluster = self._redis if isinstance(self._redis, RedisCluster) else None
        node = cluster.get_node_from_key(meta) if cluster else None
        route = {"target_nodes": node} if node else {}
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.eval(PROBE, 2, meta, keys.replication_probe(session_id))
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms, **route)
            there, acked = await pipe.execute()
        if cluster and _name(cluster.get_node_from_key(meta)) != _name(node):
            # the slot moved while we asked: the script may have run elsewhere than the WAIT
            raise StoreUnavailable("the store's cluster moved this session while confirming a write; retry")
        if int(there) < head:
            raise StoreUnavailable(f"the store lost events of this session (at {there}, expected {head}) in a "
                                   "failover; retry")
        if int(acked) < self.replicas:
            raise StoreUnavailable(f"the write reached {acked} of {self.replicas} Redis replicas in "
                                   f"{self.timeout_ms} ms; retry")


def _name(node: object) -> str | None:
    return getattr(node, "name", None)
