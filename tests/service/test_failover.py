"""A Redis Cluster master dies under a running session (3 masters, a replica each, real
processes; ``redis_cluster.LocalCluster``), with and without ``ZOADAMM_REDIS_WAIT_REPLICAS``.

Redis replicates asynchronously: a master answers before its replica has the write.  So a step
the service acknowledged is lost when its master dies before replicating it.  On loopback that
window is tiny, so two tests widen it on purpose (the replica stopped and its link cut, as a slow
or partitioned replica would be); with WAIT the service does not acknowledge what the replica
lacks, and nothing acknowledged is ever lost.
"""

from __future__ import annotations

import numpy as np
import pytest
from failover_support import Run, cluster_service, replica_cut_off
from redis_cluster import LocalCluster


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
        for _ in range(5):
            assert run.tell().status_code == 200
        master = cluster.master_of(run.meta_key())
        with replica_cut_off(cluster, master):
            assert run.tell().status_code == 200  # acknowledged: step 5, on the master only
            cluster.kill(master)
        cluster.failed_over(run.meta_key(), master)
        assert run.server_step() == 5  # the session is back at step 5: step 5 is gone
        assert run.tell_until_acknowledged() == 1
        cluster.restart(master)


def test_with_wait_a_step_the_replica_lacks_is_not_acknowledged(cluster):
    with cluster_service(cluster, wait_replicas=1) as http:
        run = Run(http)
        for _ in range(5):
            assert run.tell().status_code == 200
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
    with cluster_service(cluster, wait_replicas=1) as http:
        run = Run(http)
        for _ in range(20):
            assert run.tell_until_acknowledged() == 0
        fail_over(cluster, run, cluster.master_of(run.meta_key()))
        for _ in range(20):  # through the failover: 503s, then the new master
            assert run.tell_until_acknowledged() == 0
        assert run.server_step() == run.acked.step == 40
        x = np.asarray(http.get(f"/v1/sessions/{run.id}/x").json()["x"], np.float32)
        assert np.array_equal(x, run.acked.state.x)
