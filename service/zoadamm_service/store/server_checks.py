"""What the store needs of the Redis it is given, checked where ``/healthz`` asks
(``RedisStore.ping``), so that a deployment that cannot keep its sessions says so there:

- a cluster that serves every slot (``cluster_state:ok``, no ``cluster_slots_fail``), else the
  calls on the keys of a slot without a master wait out their budget;
- a master, not a read-only replica (a service left on the old master after a failover, which
  rejoined as a replica), else every write is refused;
- the cluster client for a node of a cluster, else every write is answered MOVED;
- no eviction: a Redis that evicts keys under ``maxmemory`` drops whole sessions, or a session's
  journal under a checkpoint it still has, without an error anywhere;
- with ``ZOADAMM_REDIS_WAIT_REPLICAS`` n, a master with n replicas connected, else every write
  waits out ``ZOADAMM_REDIS_WAIT_TIMEOUT_MS`` and is answered 503 while reads still work.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from ..errors import StoreUnavailable

log = logging.getLogger("zoadamm.service")

CLUSTER_NODE = ("REDIS_URL names a node of a Redis Cluster: set ZOADAMM_REDIS_CLUSTER=true, whose client "
                "follows the cluster's slots")

READ_ONLY = ("REDIS_URL names a read-only replica of another Redis: every write is refused; point REDIS_URL at "
             "the master (after a failover, the replica promoted in its place)")

RECHECK_S = 30.0  # a Redis set up right is asked again after this long (its settings change, a failover)


class ServerChecks:
    """The checks of one store's Redis: the cluster's state at every ping, the rest at every
    ping until they pass, then once every ``RECHECK_S`` seconds."""

    def __init__(self, client: aioredis.Redis | RedisCluster, wait_replicas: int = 0) -> None:
        self._client, self._wait_replicas = client, wait_replicas
        self._next = 0.0  # when the settings are asked again (time.monotonic)
        self._warned = False  # that CONFIG cannot be read: said once

    async def __call__(self) -> None:
        """Raises StoreUnavailable naming what is wrong and what to set."""
        replication = None  # a single Redis's INFO replication, read once a ping
        if isinstance(self._client, RedisCluster):
            info = await self._client.cluster_info()
            state, failed = info.get("cluster_state"), int(info.get("cluster_slots_fail", 0))
            if state != "ok":
                raise StoreUnavailable(f"the Redis Cluster is down (cluster_state {state}): a slot has no master")
            if failed:  # cluster-require-full-coverage no: the cluster is "ok", but not for those slots' keys
                raise StoreUnavailable(f"{failed} slots of the Redis Cluster have no master (cluster_slots_fail): "
                                       "the calls on their keys wait out their budget and get 503")
        elif (replication := await self._client.info("replication")).get("role") == "slave":  # every ping: a failover
            raise StoreUnavailable(READ_ONLY)
        if time.monotonic() < self._next:
            return
        if not isinstance(self._client, RedisCluster) and (await self._client.info("cluster")).get("cluster_enabled"):
            raise StoreUnavailable(CLUSTER_NODE)
        await self._check_eviction()
        if replication is not None:  # a cluster's masters: each its own
            self._check_replicas(replication)
        self._next = time.monotonic() + RECHECK_S

    def _check_replicas(self, replication: dict) -> None:
        if not self._wait_replicas:
            return
        connected = int(replication.get("connected_slaves", 0))
        if connected < self._wait_replicas:
            raise StoreUnavailable(f"ZOADAMM_REDIS_WAIT_REPLICAS={self._wait_replicas} but the Redis has {connected} "
                                   "replicas connected: every write is refused until enough connect (or lower the "
                                   "setting)")

    async def _check_eviction(self) -> None:
        try:
            config = await self._client.config_get("maxmemory*")
        except ResponseError as refused:  # a managed Redis may rename or refuse CONFIG
            if self._warned:
                return
            self._warned = True
            log.warning("cannot read Redis's maxmemory-policy (%s): it must be noeviction, or Redis may drop "
                        "sessions when full", refused)
            return
        policy, limit = config.get("maxmemory-policy", "noeviction"), int(config.get("maxmemory", 0) or 0)
        if limit and policy != "noeviction":
            raise StoreUnavailable(f"Redis may evict sessions (maxmemory {limit} with maxmemory-policy {policy}): "
                                   "set maxmemory-policy noeviction (a full Redis then refuses writes, a 503)")
