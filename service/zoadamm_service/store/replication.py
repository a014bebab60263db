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

The writes that make a session (its create, its first parameters) wait for one replica even
with WAIT off, whenever the master has one: a step lost in a failover costs the client one
step, but a lost create costs it the whole session.  A replica can be connected and still get
nothing for a while (after a diskless full sync Redis holds the stream back until the
replica's next acknowledgement, up to a second), so its link being up proves nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import PipelineCommand, RedisCluster

from .. import keys
from ..errors import StoreUnavailable
from . import replies

# a probe key goes by itself; WAIT counts replication offsets, not the key, so a wait for the
# replicas longer than the key's life (ZOADAMM_REDIS_WAIT_TIMEOUT_MS has no cap) is no harm
PROBE_TTL_MS = 10_000

# KEYS: meta, probe.  Returns the session's head on this master (-1: no session).
PROBE = f"""
redis.call('SET', KEYS[2], '1', 'PX', {PROBE_TTL_MS})
return tonumber(redis.call('HGET', KEYS[1], 'head') or '-1')
"""

# KEYS: meta, probe, partials; ARGV: step, field, ...  Returns the session's head on this master
# when it holds every part field of ``step`` (or the step has closed, consuming them), else -2.
PROBE_PARTS = f"""
redis.call('SET', KEYS[2], '1', 'PX', {PROBE_TTL_MS})
local head = tonumber(redis.call('HGET', KEYS[1], 'head') or '-1')
if head > tonumber(ARGV[1]) then return head end
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then return -2 end
end
return head
"""

# KEYS: meta (it routes the script to the session's master).  Returns how many replicas that
# master has connected now.
CONNECTED_REPLICAS = """
local info = redis.call('INFO', 'replication')
return tonumber(string.match(info, 'connected_slaves:(%d+)') or '0')
"""


# How long a master's assigned replicas are reused: a replica the cluster has just declared
# failed keeps refusing creates that long.
ASSIGNED_CACHE_S = 2.0


class Replication:
    """``alone``: an in-process Redis (the embedded store), which has no replicas: nothing to
    confirm, whatever ``replicas`` says."""

    def __init__(self, client: Redis | RedisCluster, replicas: int, timeout_ms: int, *, alone: bool = False) -> None:
        self._redis = client
        self.replicas = 0 if alone else replicas
        self.timeout_ms = timeout_ms
        self._alone = alone
        self._assigned_cache: dict[str, tuple[float, int]] = {}  # node -> (when, ``_assigned``)

    async def confirm(self, session_id: str, head: int, *, makes_session: bool = False) -> None:
        """Return once ``replicas`` replicas hold the session up to event ``head``; with
        ``makes_session`` (a create, the first parameters) at least one whenever the master has
        a replica.  Raises StoreUnavailable when they do not within the timeout, or the master
        lacks the event."""
        if not self.replicas and (self._alone or not makes_session):
            return  # the hot path without WAIT: no call at all
        meta = keys.meta(session_id)
        needed = await self._needed(meta, makes_session)
        if not needed:
            return
        there = await self._probe_and_wait(meta, needed, "EVAL", PROBE, 2, meta, keys.replication_probe(session_id))
        if int(there) < head:
            raise StoreUnavailable(f"the store lost events of this session (at {there}, expected {head}) in a "
                                   "failover; retry")

    async def confirm_parts(self, session_id: str, head: int, step: int, indices: Iterable[int]) -> None:
        """``confirm`` of a split step's parts: a part leaves the head where it was, so a failover
        that took it shows only as its field missing on the master that answers the probe (a
        new one, whose old master rejoined as its replica before the probe ran).  Raises
        StoreUnavailable as ``confirm`` does, and when a part is missing there."""
        if not self.replicas:
            return
        meta = keys.meta(session_id)
        fields = [replies.partial_field(step, i) for i in indices]
        there = await self._probe_and_wait(meta, self.replicas, "EVAL", PROBE_PARTS, 3, meta,
                                           keys.replication_probe(session_id), keys.partials(session_id), step, *fields)
        if int(there) == -2 or int(there) < head:
            raise StoreUnavailable("the store lost parts of this step in a failover; retry")

    async def confirm_index(self, index: str) -> None:
        """Return once the replicas hold the tenant's index as it is now, as ``confirm`` of a
        write that makes a session.  Only a cluster needs it: in one Redis the session's own
        confirmation, made after, covers the index too.  Raises StoreUnavailable."""
        if self._alone or not isinstance(self._redis, RedisCluster):
            return
        needed = await self._needed(index, True)
        if needed:
            await self._probe_and_wait(index, needed, "SET", keys.index_probe(index), "1", "PX", PROBE_TTL_MS)

    async def _needed(self, key: str, makes_session: bool) -> int:
        """How many replicas must acknowledge a write of ``key``'s slot.  Raises StoreUnavailable
        for a write that makes a session on a cluster master with fewer replicas connected than
        the cluster assigns it (``_assigned``)."""
        if self.replicas or not makes_session:
            return self.replicas
        connected = int(await self._redis.eval(CONNECTED_REPLICAS, 1, key))
        if isinstance(self._redis, RedisCluster) and connected < (assigned := await self._assigned(key)):
            raise StoreUnavailable(f"the session's Redis master has {connected} of its {assigned} replicas "
                                   "connected: a failover could lose the session; retry")
        return min(1, connected)

    async def _assigned(self, key: str) -> int:
        """The replicas the cluster assigns to the master of ``key``'s slot, in that master's own
        view (``CLUSTER NODES``), but for those the cluster agrees have failed (nothing to fail
        over to there).  A replica whose link is cut (a partition) stays assigned, and promotable:
        a create its master acknowledged alone would be lost if it took over.  Cached per node
        for ``ASSIGNED_CACHE_S``: creates only."""
        assert isinstance(self._redis, RedisCluster)
        node = self._redis.get_node_from_key(key)
        if node is None:
            return 0
        cached = self._assigned_cache.get(node.name)
        if cached is not None and time.monotonic() - cached[0] < ASSIGNED_CACHE_S:
            return cached[1]
        assigned = replicas_assigned(await node.execute_command("CLUSTER", "NODES"))
        self._assigned_cache[node.name] = (time.monotonic(), assigned)
        return assigned

    async def _probe_and_wait(self, key: str, needed: int, *probe: Any) -> Any:
        """Send the command ``probe`` (a write in ``key``'s slot) then WAIT, both on one connection
        to the master of that slot; the probe's reply.  Raises StoreUnavailable when fewer than
        ``needed`` replicas acknowledge in time, or either command fails.

        In a cluster the two go straight to the slot's master node, not through redis-py's
        cluster pipeline: that one, when its connection fails between the probe's reply and the
        WAIT's (a master killed during the WAIT), sends the WAIT again alone (it keeps replies
        already read), to the client's default node, on another connection that wrote nothing,
        whose WAIT then counts replicas at once.  A failure here is the caller's 503 instead;
        the call before the confirmation (the write, or the read of a repeat) went through the
        cluster client, which follows a moved slot."""
        wait = ("WAIT", needed, self.timeout_ms)
        if isinstance(self._redis, RedisCluster):
            node = self._redis.get_node_from_key(key)
            if node is None:
                raise StoreUnavailable("no Redis node serves this session's slot now; retry")
            commands = [PipelineCommand(0, *probe), PipelineCommand(1, *wait)]
            await node.execute_pipeline(commands)
            reply, acked = (_value(command.result) for command in commands)
        else:  # one connection: a reconnect (``faults.ONE_RECONNECT``) sends the probe again too
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.execute_command(*probe)
                pipe.execute_command(*wait)
                reply, acked = (_value(result) for result in await pipe.execute(raise_on_error=False))
        if int(acked) < needed:
            raise StoreUnavailable(f"the write reached {acked} of {needed} Redis replicas in "
                                   f"{self.timeout_ms} ms; retry")
        return reply


def _value(result: Any) -> Any:
    """A pipelined command's reply; its error raised."""
    if isinstance(result, Exception):
        raise result
    return result


def replicas_assigned(nodes: bytes | str) -> int:
    """The replicas of the node that answered ``CLUSTER NODES`` (its ``myself`` line), but for
    those flagged ``fail`` (agreed failed; ``fail?`` is one node's suspicion, still counted).
    0 when that node is not a master (the client's map of the slots is behind)."""
    lines = [line.split() for line in replies.text(nodes).splitlines()]
    me = next((fields for fields in lines if "myself" in fields[2].split(",")), None)
    if me is None or "master" not in me[2].split(","):
        return 0
    return sum(1 for fields in lines if fields[3] == me[0] and "fail" not in fields[2].split(","))
