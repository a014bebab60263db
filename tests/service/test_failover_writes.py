"""How the store confirms its writes on a Redis Cluster whose nodes fail (3 masters, a replica
each, real processes; ``redis_cluster.LocalCluster``): the confirmation's own connection lost
during its WAIT, a create whose confirmation fails, a master cut off from its replica, and a
tell with lease answering a step another process closed.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import pytest
from failover_support import (
    DIM,
    RETRIES,
    Run,
    cluster_service,
    cluster_services,
    create,
    master_of,
    masters,
    meta_keys,
    replica_link_cut,
    replica_stopped,
)
from redis_cluster import LocalCluster
from service_support import x0_for

from zoadamm_service import keys
from zoadamm_service.errors import StoreUnavailable
from zoadamm_service.store.redis import RedisStore
from zoadamm_service.store.replication import replicas_assigned


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


BODY = {"dim": DIM, "directions": 1, "lr": 0.05, "seed": 3, "x0": x0_for(DIM).tolist()}


@contextmanager
def no_replica_streams(cluster: LocalCluster):
    """Every master's replica stopped, its link up: as just past a full sync."""
    with ExitStack() as stopped:
        for master in masters(cluster):
            stopped.enter_context(replica_stopped(cluster, master))
        yield


def test_without_a_key_a_create_answered_503_leaves_no_session_behind(cluster):
    """The client of a create refused 503 cannot learn its id, and retries: the session written
    before the confirmation failed is removed, so it neither lingers nor counts against the
    tenant's limit (here 1 session)."""
    cluster.flush()
    with cluster_service(cluster, settings={"ZOADAMM_MAX_SESSIONS": "1"}) as http:
        via = masters(cluster)[0]
        with no_replica_streams(cluster):
            refused = http.post("/v1/sessions", json=BODY)
            assert refused.status_code == 503 and "of 1 Redis replicas" in refused.json()["detail"]
            assert refused.headers["Retry-After"]
            assert meta_keys(via) == set()  # written, then removed before the answer
        assert http.get("/v1/sessions").json()["total"] == 0
        answer = http.post("/v1/sessions", json=BODY)  # the client's retry: the tenant's one session
        assert answer.status_code == 201, answer.text
        assert http.get("/v1/sessions").json()["total"] == 1


def test_with_a_key_a_create_answered_503_is_kept_for_its_retry(cluster):
    cluster.flush()
    with cluster_service(cluster, settings={"ZOADAMM_MAX_SESSIONS": "1"}) as http:
        via = masters(cluster)[0]
        with no_replica_streams(cluster):
            refused = create(http, key="kept")
            assert refused.status_code == 503 and "of 1 Redis replicas" in refused.json()["detail"]
            (written,) = meta_keys(via)  # kept: its idempotency record answers the retry with it
        answer = create(http, key="kept")
        assert answer.status_code == 201, answer.text
        assert keys.meta(answer.json()["id"]) == written
        assert http.get("/v1/sessions").json()["total"] == 1


def test_a_create_repeated_after_its_session_was_deleted_answers_as_the_first_time(cluster):
    """The repeat's confirmation checks the replicas hold what the record answers, not that the
    session is still there: it was deleted, and stays so (its replicas' probe sees no head)."""
    cluster.flush()
    with cluster_service(cluster) as http:
        first = create(http, key="deleted-since")
        assert first.status_code == 201, first.text
        assert http.delete(f"/v1/sessions/{first.json()['id']}").status_code == 204
        again = create(http, key="deleted-since")
        assert again.status_code == 201, again.text
        assert again.json() == first.json()
        assert http.get(f"/v1/sessions/{first.json()['id']}").status_code == 404


def test_without_wait_a_create_on_a_master_cut_off_from_its_replica_is_refused(cluster):
    """The replica of every master is partitioned from it, alive and promotable: a master that
    acknowledged a create alone would lose it to a failover.  The create is refused (503) while
    the link is down; the master then dies, its replica takes over, and the client's retry
    (the same Idempotency-Key) makes the session there."""
    cluster.flush()
    with cluster_service(cluster) as http:
        via = masters(cluster)[0]
        with ExitStack() as cut:
            for master in masters(cluster):
                cut.enter_context(replica_link_cut(cluster, master))
            refused = create(http, key="made-while-cut-off")
            assert refused.status_code == 503 and "0 of its 1 replicas connected" in refused.json()["detail"]
            (written,) = meta_keys(via)
            master = master_of(via, written)
            cluster.kill(master)
        cluster.failed_over(written, master)
        session = keys.session_of(written)
        assert http.get(f"/v1/sessions/{session}").status_code == 404  # gone, as it was never acknowledged
        for _ in range(RETRIES):  # until the other masters' replicas stream again
            answer = create(http, key="made-while-cut-off")
            if answer.status_code != 503:
                break
            time.sleep(0.05)
        assert answer.status_code == 201, answer.text
        assert answer.json()["id"] == session
        assert http.get(f"/v1/sessions/{session}").status_code == 200
        cluster.restart(master)


def test_a_masters_assigned_replicas_are_those_not_agreed_failed():
    nodes = "\n".join([  # CLUSTER NODES as a master answers it: id, address, flags, its master, ...
        "a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460",
        "b1 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922",
        "r1 127.0.0.1:7004@17004 slave a1 0 0 1 connected",  # linked or cut off: assigned
        "r2 127.0.0.1:7005@17005 slave,fail? a1 0 0 1 connected",  # one node's suspicion: still assigned
        "r3 127.0.0.1:7006@17006 slave,fail a1 0 0 1 disconnected",  # agreed failed: nothing to fail over to
        "r4 127.0.0.1:7007@17007 slave b1 0 0 2 connected",  # another master's
    ])
    assert replicas_assigned(nodes.encode()) == 2
    assert replicas_assigned(nodes.replace("myself,master", "myself,slave")) == 0  # asked a node that is not master


def test_with_wait_a_tell_with_lease_answers_a_step_closed_elsewhere_once_replicas_hold_it(cluster):
    """Worker a's tell with lease waits for its shared step to close; another process closes it
    with a whole tell whose write the replica does not get (stopped, its link up).  a's answer
    must not say the step closed (200) while only the master holds the close: a failover could
    take it.  It is a 503, as b's is; b's retry gets its 200 once the replica has the close."""
    cluster.flush()
    with cluster_services(cluster, 2, wait_replicas=1, wait_timeout_ms=1000) as (http_a, http_b):
        session = create(http_a, directions=2).json()["id"]
        url = f"/v1/sessions/{session}"
        for worker in ("b", "a"):  # b holds direction 0 for the lease's 10 s: a's tell must wait
            assert http_a.post(f"{url}/ask", json={"lease": 1, "worker": worker}).status_code == 200
        part = {"step": 0, "indices": [1], "f_x": [1.0], "f_plus": [0.5], "lease": 1, "worker": "a", "wait": 20}
        with ThreadPoolExecutor(2) as pool:
            waiting = pool.submit(http_a.post, f"{url}/tell?answer=checksum", json=part)
            master = cluster.master_of(keys.meta(session))
            with cluster.client() as client:  # a's part is there and confirmed, and a waits
                while not client.hexists(keys.partials(session), "0:1"):
                    time.sleep(0.01)
            with cluster.node(master) as node:
                while any(c["cmd"] == "wait" for c in node.client_list()):
                    time.sleep(0.01)
            with replica_stopped(cluster, master):
                closing = pool.submit(http_b.post, f"{url}/tell", json={"step": 0, "f_x": 1.0, "f_plus": [0.25, 0.5]})
                assert closing.result().status_code == 503  # b's close: on the master only
                answered = waiting.result()
                assert answered.status_code == 503, answered.text
        again = http_b.post(f"{url}/tell", json={"step": 0, "f_x": 1.0, "f_plus": [0.25, 0.5]})  # b's retry
        assert again.status_code == 200, again.text  # the close, replicated now, is acknowledged
        assert http_a.get(url).json()["step"] == 1
