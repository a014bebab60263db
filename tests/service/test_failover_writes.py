"""How the store confirms its writes on a Redis Cluster whose nodes fail (3 masters, a replica
each, real processes; ``redis_cluster.LocalCluster``): the confirmation's own connection lost
during its WAIT, and the replica link of a session's master cut.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from failover_support import Run, cluster_service, replica_stopped
from redis_cluster import LocalCluster

from zoadamm_service.errors import StoreUnavailable
from zoadamm_service.store.redis import RedisStore


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LocalCluster(tmp_path_factory.mktemp("failover-writes"), masters=3, replicas=1).start()
    yield cluster
    cluster.stop()


def kill_the_wait(cluster: LocalCluster, master: int) -> None:
    """Close the connection of the client blocked in WAIT on ``master``, as its death would,
    once there is one (the caller starts the WAIT)."""
    with cluster.node(master) as node:
        while True:
            waiting = [c for c in node.client_list() if c["cmd"] == "wait"]
            if waiting:
                node.client_kill_filter(_id=waiting[0]["id"])
                return
            time.sleep(0.01)


def test_with_wait_a_confirmation_whose_connection_dies_in_its_wait_is_refused(cluster):
    """A step written on a master whose replica gets nothing (stopped, its link up: as right
    after a full sync), and the master's connection lost while the confirmation's WAIT waits
    for that replica.  The WAIT sent again on another connection, one that wrote nothing,
    would count the replica at once: the step must not be confirmed; the answer is a 503."""
    with cluster_service(cluster, wait_replicas=1) as http:
        run = Run(http)
        assert run.tell_until_acknowledged() == 0
    master = cluster.master_of(run.meta_key())

    async def confirm() -> None:
        store = RedisStore.from_url(cluster.url, cluster=True, wait_replicas=1, wait_timeout_ms=60_000)
        try:
            await store.ping()  # learns the cluster's slots
            await store.head(run.id)
            with replica_stopped(cluster, master):
                waiting = asyncio.ensure_future(store.replicated(run.id, 1))
                await asyncio.to_thread(kill_the_wait, cluster, master)
                with pytest.raises(StoreUnavailable):
                    await waiting
            await store.replicated(run.id, 1)  # the replica streams again: confirmed
        finally:
            await store.close()

    asyncio.run(confirm())
