"""A Redis Cluster master dies under a running session (3 masters, a replica each, real
processes; ``redis_cluster.LocalCluster``), with and without ``ZOADAMM_REDIS_WAIT_REPLICAS``.

Redis replicates asynchronously: a master answers before its replica has the write.  So a step
the service acknowledged is lost when its master dies before replicating it.  On loopback that
window is tiny, so the tests widen it on purpose (the replica stopped, its link up as right
after a full sync, or cut as a partitioned replica's would be).  With WAIT the service does not
acknowledge what the replica lacks, and nothing acknowledged is ever lost: no step, no part of
a split step, and x read back from the new master's checkpoint and journal is the client's.
Without it a failover may take the steps in flight, but never a session: a create is
acknowledged only once a replica holds it.
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

import numpy as np
import pytest
from failover_support import (
    Run,
    cluster_service,
    cluster_services,
    create,
    master_of,
    masters,
    meta_keys,
    replica_cut_off,
    replica_stopped,
)
from redis_cluster import LocalCluster

from zoadamm_service import keys
from zoadamm_service.errors import NotFound, StoreUnavailable
from zoadamm_service.store.redis import RedisStore


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LocalCluster(tmp_path_factory.mktemp("failover"), masters=3, replicas=1).start()
    yield cluster
    cluster.stop()


def fail_over(cluster: LocalCluster, run: Run, master: int) -> int:
    """SIGKILL ``master``, wait for its replica to take over; then bring the node back."""
    cluster.kill(master)
    new = cluster.failed_over(run.meta_key(), master)
    cluster.restart(master)  # it rejoins as a replica, for the next test
    return new


def test_without_wait_an_acknowledged_step_is_lost_with_its_master(cluster):
    with cluster_service(cluster) as http:
        run = Run(http)
        for _ in range(5):  # a 503 of a replica slow to confirm (a loaded machine) is retried
            assert run.tell_until_acknowledged() == 0
        master = cluster.master_of(run.meta_key())
        with replica_cut_off(cluster, master):
            assert run.tell().status_code == 200  # acknowledged: step 5, on the master only
            cluster.kill(master)
        cluster.failed_over(run.meta_key(), master)
        assert run.server_step() == 5  # the session is there, back at step 5: step 5 is gone
        assert run.tell_until_acknowledged() == 1
        cluster.restart(master)


def test_with_wait_a_step_the_replica_lacks_is_not_acknowledged(cluster):
    with cluster_service(cluster, wait_replicas=1) as http:
        run = Run(http)
        for _ in range(5):  # a 503 of a replica slow to confirm (a loaded machine) is retried
            assert run.tell_until_acknowledged() == 0
        master = cluster.master_of(run.meta_key())
        with replica_cut_off(cluster, master):
            refused = run.tell()
            assert refused.status_code == 503 and "of 1 Redis replicas" in refused.json()["detail"]
            assert run.acked.step == 5  # not acknowledged, so not counted
            cluster.kill(master)
        cluster.failed_over(run.meta_key(), master)
        assert run.tell().status_code == 503  # the new master has no replica yet: still refused
        cluster.restart(master)  # the old master rejoins, as the new one's replica
        assert run.tell_until_acknowledged() == 0  # the client's retry takes step 5 again
        assert run.server_step() == 6


def test_with_wait_a_master_killed_mid_run_loses_no_acknowledged_step(cluster):
    # a checkpoint every 7 steps, and a second service process that reads x from them
    with cluster_services(cluster, 2, wait_replicas=1, checkpoint_every=7) as (http, reader):
        run = Run(http)
        for _ in range(20):
            assert run.tell_until_acknowledged() == 0
        fail_over(cluster, run, cluster.master_of(run.meta_key()))
        for _ in range(20):  # through the failover: 503s, then the new master
            assert run.tell_until_acknowledged() == 0
        assert run.server_step() == run.acked.step == 40
        x = np.asarray(http.get(f"/v1/sessions/{run.id}/x").json()["x"], np.float32)
        assert np.array_equal(x, run.acked.state.x)
        assert run.x_equal(reader)  # from the new master's checkpoint (step 35) and journal


def test_with_wait_a_part_the_replica_lacks_is_not_acknowledged(cluster):
    with cluster_service(cluster, wait_replicas=1) as http:
        run = Run(http, parts=2)
        for _ in range(3):
            assert run.tell_until_acknowledged() == 0
        master = cluster.master_of(run.meta_key())
        with replica_cut_off(cluster, master):
            refused = run.tell_part(0)
            assert refused.status_code == 503 and "of 1 Redis replicas" in refused.json()["detail"]
            assert not run.parts_acked  # not acknowledged, so not counted
            cluster.kill(master)
        cluster.failed_over(run.meta_key(), master)
        cluster.restart(master)  # WAIT needs a replica: the old master rejoins as one
        assert run.tell_until_acknowledged() == 0 and run.loss is None  # both parts told again
        assert run.server_step() == run.acked.step == 4


def test_with_wait_a_delete_the_replica_lacks_is_not_acknowledged(cluster):
    with cluster_service(cluster, wait_replicas=1) as http:
        run = Run(http)
        assert run.tell_until_acknowledged() == 0
        master = cluster.master_of(run.meta_key())
        with replica_cut_off(cluster, master):
            refused = http.delete(f"/v1/sessions/{run.id}")
            assert refused.status_code == 503 and "of 1 Redis replicas" in refused.json()["detail"]
            cluster.kill(master)
        cluster.failed_over(run.meta_key(), master)
        cluster.restart(master)  # WAIT needs a replica: the old master rejoins as one
        assert http.get(f"/v1/sessions/{run.id}").status_code == 200  # not acknowledged: still there
        assert http.delete(f"/v1/sessions/{run.id}").status_code == 204  # the client's retry
        assert http.get(f"/v1/sessions/{run.id}").status_code == 404


def test_with_wait_a_part_missing_on_the_master_that_answers_is_not_acknowledged(cluster):
    """The race a failover can open: a part written on a master that died, and the WAIT made
    on the new master once the old one rejoined as its replica.  The head alone cannot show
    the loss (a part does not move it); the part's field missing there does."""
    with cluster_service(cluster, wait_replicas=1) as http:
        run = Run(http, parts=2)
        assert run.tell_part(0).status_code == 202

    async def confirm(indices: list[int]) -> None:
        store = RedisStore.from_url(cluster.url, cluster=True, wait_replicas=1)
        try:
            await store.ping()  # learns the cluster's slots
            await store._replication.confirm_parts(run.id, 0, 0, indices)
        finally:
            await store.close()

    asyncio.run(confirm([0]))  # the part told above is there, and replicated
    with pytest.raises(StoreUnavailable, match="lost parts"):
        asyncio.run(confirm([0, 1]))  # as if part 1's write had gone with its master


def test_without_wait_a_create_is_acknowledged_only_once_a_replica_holds_it(cluster):
    with cluster_service(cluster) as http:
        ports = masters(cluster)
        before = meta_keys(ports[0])
        with ExitStack() as stopped:  # every replica stopped, its link up: as just past a full sync
            for master in ports:
                stopped.enter_context(replica_stopped(cluster, master))
            refused = create(http, key="made-while-no-replica-streams")
            assert refused.status_code == 503 and "of 1 Redis replicas" in refused.json()["detail"]
            (written,) = meta_keys(ports[0]) - before  # on its master only, and not acknowledged
            master = master_of(ports[0], written)
            cluster.kill(master)
        cluster.failed_over(written, master)
        answer = create(http, key="made-while-no-replica-streams")  # the client's retry, after the failover
        assert answer.status_code == 201, answer.text
        session = answer.json()["id"]
        assert keys.meta(session) == written  # the key names the same session
        assert http.get(f"/v1/sessions/{session}").status_code == 200
        cluster.restart(master)


def test_with_wait_a_create_waits_for_the_tenants_index_too(cluster):
    with cluster_service(cluster, wait_replicas=1) as http:
        index_master = cluster.master_of(keys.tenant_sessions("open"))
        with replica_cut_off(cluster, index_master):
            for _ in range(50):  # until a session lands on another master, whose replica streams
                before = meta_keys(index_master)
                answer = create(http)
                (written,) = meta_keys(index_master) - before
                if master_of(index_master, written) != index_master:
                    break
            assert master_of(index_master, written) != index_master
            assert answer.status_code == 503 and "of 1 Redis replicas" in answer.json()["detail"]
    cluster.wait_healthy()  # the replica streams again, for the next test


def test_a_write_on_a_connection_redis_just_closed_is_a_503(redis_url, monkeypatch):
    """A master killed under a write can leave redis-py's asyncio connection failing the write
    with the event loop's own error (here uvloop's, for a closed transport) instead of its
    ConnectionError; the store answers it as any lost connection: StoreUnavailable (503), and
    the retry on a fresh connection works."""

    def closed(self, data):
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")

    async def scenario() -> None:
        store = RedisStore.from_url(redis_url)
        try:
            await store.ping()
            with monkeypatch.context() as patch:
                patch.setattr(asyncio.StreamWriter, "writelines", closed)
                with pytest.raises(StoreUnavailable, match="the connection closed"):
                    await store.head("0" * 32)
            with pytest.raises(NotFound):  # answered again, on a new connection
                await store.head("0" * 32)
        finally:
            await store.close()

    asyncio.run(scenario())
