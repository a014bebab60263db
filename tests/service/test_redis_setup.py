"""A Redis the store cannot keep its sessions in says so at /healthz, and a call that reaches it
gets a 503 naming what to set, never a 500: a cluster out of reach or with a slot unserved, a
cluster node given to the single-Redis client, a Redis that evicts keys.  And a session whose
keys were evicted anyway is refused as damaged rather than served from what is left."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time

import pytest
import redis
from fastapi.testclient import TestClient
from redis_cluster import LocalCluster

from zoadamm_service.errors import StoreDamaged, StoreUnavailable
from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings
from zoadamm_service.store.redis import RedisStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(url: str, **options) -> None:
    async def ping() -> None:
        store = RedisStore.from_url(url, **options)
        try:
            await store.ping()
        finally:
            await store.close()

    asyncio.run(ping())


def test_a_cluster_out_of_reach_is_a_503_at_healthz_and_on_every_call():
    url = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    with pytest.raises(StoreUnavailable, match="RedisClusterUnreachableError"):
        _ping(url, cluster=True)
    app = create_app(Settings(redis_url=url, redis_cluster=True, redis_connect_timeout_s=0.5))
    with TestClient(app) as client:
        health = client.get("/healthz")
        created = client.post("/v1/sessions", json={"dim": 3})
    assert health.status_code == created.status_code == 503
    assert health.headers["retry-after"] and created.headers["retry-after"]


def test_a_cluster_node_given_to_the_single_redis_client_names_the_setting(cluster_url):
    with pytest.raises(StoreUnavailable, match="set ZOADAMM_REDIS_CLUSTER=true"):
        _ping(cluster_url)
    _ping(cluster_url, cluster=True)  # the right client: healthy


def test_a_cluster_with_a_slot_unserved_is_a_503_at_healthz(tmp_path):
    cluster = LocalCluster(tmp_path, masters=3).start()
    try:
        _ping(cluster.url, cluster=True)
        lost = cluster.ports[1]
        cluster.procs[lost].kill()
        cluster.procs[lost].wait()
        node = redis.Redis(port=cluster.ports[0])
        while node.cluster("info")["cluster_state"] == "ok":  # the others see it fail after the node timeout
            time.sleep(0.1)
        with pytest.raises(StoreUnavailable, match=r"the Redis Cluster is down \(cluster_state fail\)"):
            _ping(cluster.url, cluster=True)
        # a call: redis-py retries CLUSTERDOWN until the budget is spent, which the 503 blamed on a
        # slow Redis or a busy service alone
        with TestClient(create_app(Settings(redis_url=cluster.url, redis_cluster=True, redis_timeout_s=1))) as http:
            created = http.post("/v1/sessions", json={"dim": 3})
        assert created.status_code == 503, created.text
        assert "a Redis Cluster with a master down makes every call wait so" in created.json()["detail"]
    finally:
        cluster.stop()


def test_a_cluster_serving_part_of_its_slots_is_a_503_at_healthz(tmp_path):
    """With cluster-require-full-coverage no, a master down leaves cluster_state ok: /healthz
    said ok while every call on its slots' keys (a tenant's index: every create) waited out its
    budget."""
    cluster = LocalCluster(tmp_path, masters=3).start()
    try:
        for port in cluster.ports:
            cluster.node(port).config_set("cluster-require-full-coverage", "no")
        lost = cluster.ports[2]
        cluster.procs[lost].kill()
        cluster.procs[lost].wait()
        node = redis.Redis(port=cluster.ports[0])
        while int(node.cluster("info")["cluster_slots_fail"]) == 0:  # once the others see it fail
            time.sleep(0.1)
        assert node.cluster("info")["cluster_state"] == "ok"
        with pytest.raises(StoreUnavailable, match=r"^\d+ slots of the Redis Cluster have no master"):
            _ping(cluster.url, cluster=True)
    finally:
        cluster.stop()


@pytest.fixture
def evicting_redis(tmp_path):
    port = _free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path), "--maxmemory", "64mb",
                               "--maxmemory-policy", "allkeys-lru"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port, client
    finally:
        server.kill()
        server.wait()


def test_a_redis_that_evicts_keys_is_refused_until_it_does_not(evicting_redis):
    port, client = evicting_redis
    url = f"redis://127.0.0.1:{port}/0"
    with pytest.raises(StoreUnavailable, match="maxmemory-policy allkeys-lru.*set maxmemory-policy noeviction"):
        _ping(url)
    client.config_set("maxmemory-policy", "volatile-lru")  # sessions have a TTL: evicted as well
    with pytest.raises(StoreUnavailable, match="volatile-lru"):
        _ping(url)
    client.config_set("maxmemory-policy", "noeviction")
    _ping(url)


def test_a_redis_set_to_evict_after_it_passed_is_refused_at_a_later_check(evicting_redis, monkeypatch):
    from zoadamm_service.store import server_checks

    port, client = evicting_redis
    client.config_set("maxmemory-policy", "noeviction")
    monkeypatch.setattr(server_checks, "RECHECK_S", 0.2)

    async def pings() -> list[str]:
        store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0")
        said = []
        try:
            await store.ping()
            said.append("ok")
            client.config_set("maxmemory-policy", "allkeys-lru")
            await store.ping()  # within RECHECK_S of the pass: not asked again
            said.append("ok")
            await asyncio.sleep(0.3)
            try:
                await store.ping()
                said.append("ok")
            except StoreUnavailable as refused:
                said.append(refused.message)
        finally:
            await store.close()
        return said

    said = asyncio.run(pings())
    assert said[:2] == ["ok", "ok"] and "maxmemory-policy allkeys-lru" in said[2], said


@pytest.mark.parametrize("lost", ["events", "checkpoint"])
def test_a_session_whose_keys_were_evicted_is_refused_as_damaged(redis_url, redis_client, lost):
    """By a replica reading it, and by the replica that holds a copy and would append to what is
    left: a step acknowledged there could be read by no other."""
    settings = Settings(redis_url=redis_url, checkpoint_every=4)
    with TestClient(create_app(settings)) as client:
        session = client.post("/v1/sessions", json={"dim": 3, "x0": [0.0, 0.0, 0.0], "seed": 1}).json()
        for step in range(6):
            told = client.post(f"/v1/sessions/{session['id']}/tell",
                               json={"step": step, "f_x": 1.0, "f_plus": [0.5]})
            assert told.status_code == 200
        gone = [k for k in redis_client.keys("*") if k.endswith(f":{lost}".encode()) and session["id"].encode() in k]
        assert len(gone) == 1
        redis_client.delete(gone[0])  # as an evicting Redis would
        told = client.post(f"/v1/sessions/{session['id']}/tell", json={"step": 6, "f_x": 1.0, "f_plus": [0.5]})
        assert told.status_code == 500 and "records in Redis are not whole" in told.json()["detail"], told.text
    with TestClient(create_app(settings)) as fresh:  # a replica that has no copy of the session
        answer = fresh.get(f"/v1/sessions/{session['id']}")
    assert answer.status_code == 500
    assert answer.json()["detail"].startswith(f"session {session['id']}'s records in Redis are not whole (")
    assert StoreDamaged.status == 500


@pytest.mark.parametrize("damage", ["a record twice", "a garbled record", "a garbled checkpoint"])
def test_records_that_cannot_be_replayed_are_refused_as_damaged(redis_url, redis_client, damage):
    """Records changed in Redis by hand or by a fault are the store's damage, 500 for every call
    on the session, not a 422 that blames the request (a GET's included), nor a bare 500."""
    settings = Settings(redis_url=redis_url, checkpoint_every=4)
    with TestClient(create_app(settings)) as client:
        session = client.post("/v1/sessions", json={"dim": 3, "x0": [0.0, 0.0, 0.0], "seed": 1}).json()
        for step in range(6):
            told = client.post(f"/v1/sessions/{session['id']}/tell", json={"step": step, "f_x": 1.0, "f_plus": [0.5]})
            assert told.status_code == 200
    (events,) = [k for k in redis_client.keys("*") if k.endswith(b":events") and session["id"].encode() in k]
    (checkpoint,) = [k for k in redis_client.keys("*") if k.endswith(b":checkpoint") and session["id"].encode() in k]
    if damage == "a record twice":
        redis_client.lset(events, 1, redis_client.lindex(events, 0))
    elif damage == "a garbled record":
        redis_client.lset(events, 1, b"garbage")
    else:
        redis_client.set(checkpoint, redis_client.get(checkpoint)[:40])
    with TestClient(create_app(settings)) as fresh:  # a replica that reads the session anew
        for answer in (fresh.get(f"/v1/sessions/{session['id']}"), fresh.get(f"/v1/sessions/{session['id']}/x")):
            assert answer.status_code == 500, answer.text
            assert "cannot be replayed" in answer.json()["detail"], answer.text


def test_a_redis_with_fewer_replicas_than_writes_wait_for_is_refused_until_one_connects(evicting_redis, tmp_path):
    """With ZOADAMM_REDIS_WAIT_REPLICAS=1 and no replica, /healthz said ok and every write got a
    503 after its wait: now /healthz says what is missing, and passes once a replica connects."""
    port, client = evicting_redis
    client.config_set("maxmemory-policy", "noeviction")
    url = f"redis://127.0.0.1:{port}/0"
    _ping(url)  # not asked to wait: nothing is missing
    with pytest.raises(StoreUnavailable, match="ZOADAMM_REDIS_WAIT_REPLICAS=1 but the Redis has 0 replicas"):
        _ping(url, wait_replicas=1)
    replica = subprocess.Popen(["redis-server", "--port", str(_free_port()), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path), "--replicaof", "127.0.0.1", str(port)],
                               stdout=subprocess.DEVNULL)
    try:
        guard = time.monotonic() + 60  # only a guard against a replica that never connects
        while int(client.info("replication")["connected_slaves"]) < 1:
            assert time.monotonic() < guard, "the replica did not connect"
            time.sleep(0.05)
        _ping(url, wait_replicas=1)
    finally:
        replica.kill()
        replica.wait()


def test_a_redis_that_does_not_answer_at_start_is_said_so_and_its_password_is_not():
    """A REDIS_URL with nothing behind it started without a word (the first call got 503), and
    the start's "sessions are kept in" line printed the URL's password.  The line says why: it
    said "does not answer" of a Redis that answered but was not ready (too few replicas, ...)."""
    import sys
    import threading
    from pathlib import Path

    url = f"redis://:hunter2@127.0.0.1:{_free_port()}/0"
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": url, "ZOADAMM_REDIS_CONNECT_TIMEOUT_S": "0.2"}
    service = subprocess.Popen([str(Path(sys.executable).with_name("zoadamm-service")), "--port", str(_free_port())],
                               env=env, stderr=subprocess.PIPE, text=True)
    guard = threading.Timer(60, service.terminate)  # a guard, not a timing: the lines come at start
    guard.start()
    lines = []
    try:
        assert service.stderr is not None
        for line in service.stderr:  # until the warning, or the service's end
            lines.append(line)
            if "is not ready" in line:
                break
    finally:
        guard.cancel()
        service.terminate()
        service.wait(timeout=60)
    said = "".join(lines)
    assert f"Redis at redis://:***@{url.split('@')[1]} is not ready (Redis is unavailable: ConnectionError: " in said
    assert "Connection refused" in said and "): calls get 503 until it is" in said, said
    assert f"sessions are kept in redis://:***@{url.split('@')[1]}" in said and "hunter2" not in said, said


@pytest.mark.parametrize("url, shown", [
    ("redis://:hunter2@host:6379/0", "redis://:***@host:6379/0"),
    ("redis://user:hunter2@host/0", "redis://user:***@host/0"),
    ("redis://user:hun@ter2@host/0", "redis://user:***@host/0"),  # an @ in the password: the host is after the last
    ("redis://host:6379/0?password=hunter2&db=0", "redis://host:6379/0?password=***&db=0"),  # redis-py reads it
    ("unix:///run/redis.sock?Password=hunter2", "unix:///run/redis.sock?Password=***"),
    ("redis://:hunter2@host:port/0", "redis://:***@host:port/0"),  # no Redis URL: an error quotes it
    ("redis://host:6379/0", "redis://host:6379/0"),
    ("rediss://user@host/0", "rediss://user@host/0"),
])
def test_a_redis_url_is_shown_without_its_password(url, shown):
    from zoadamm_service.settings import shown_url

    assert shown_url(url) == shown and "hunter2" not in shown_url(url) and "ter2" not in shown_url(url)



def test_with_keys_healthz_keeps_redis_address_to_the_log_once_per_reason(caplog):
    """/healthz needs no key: with keys, its 503 said Redis's host and port to anyone (redis-py's
    "Error 111 connecting to 127.0.0.1:PORT"); now the log says it, once however often it is polled.
    A tenant's 503 names "Redis" there."""
    import hashlib
    import logging

    port = _free_port()  # nothing listens there
    url = f"redis://127.0.0.1:{port}/0"
    keyed = Settings(redis_url=url, redis_connect_timeout_s=0.5,
                     api_keys=f"alice:{hashlib.sha256(b'secret').hexdigest()}")
    with caplog.at_level(logging.WARNING, "zoadamm.service"), TestClient(create_app(keyed)) as client:
        caplog.clear()  # the start's own line about Redis
        answers = [client.get("/healthz") for _ in range(3)]
        created = client.post("/v1/sessions", json={"dim": 3}, headers={"Authorization": "Bearer secret"})
    # nor does a tenant's 503 say where Redis is
    assert created.status_code == 503 and "connecting to Redis" in created.json()["detail"], created.text
    assert str(port) not in created.text and created.headers["retry-after"]
    assert {a.status_code for a in answers} == {503}
    assert all(str(port) not in a.text and a.headers["retry-after"] for a in answers), answers[0].text
    assert "service's log" in answers[0].json()["detail"]
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("/healthz:")]
    assert len(said) == 1 and str(port) in said[0], said
    with TestClient(create_app(Settings(redis_url=url, redis_connect_timeout_s=0.5))) as client:
        open_answer = client.get("/healthz")  # open, the service is its one user's: the reason is said
    assert open_answer.status_code == 503 and str(port) in open_answer.json()["detail"], open_answer.text


def test_a_read_only_replica_is_refused_at_healthz_and_said_at_start(evicting_redis, tmp_path):
    """After a failover, a service left on the old master, which rejoined as a replica, said
    /healthz ok while every write got 503 (ReadOnlyError)."""
    port, client = evicting_redis
    client.config_set("maxmemory-policy", "noeviction")
    replica_port = _free_port()
    replica = subprocess.Popen(["redis-server", "--port", str(replica_port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path), "--replicaof", "127.0.0.1", str(port)],
                               stdout=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{replica_port}/0"
        guard = time.monotonic() + 60  # only a guard against a replica that never starts
        while True:
            try:
                _ping(url)
            except StoreUnavailable as refused:  # not up yet, or refused as it should be
                if "read-only replica" in refused.message:
                    break
            else:
                raise AssertionError("a read-only replica passed the checks")
            assert time.monotonic() < guard, "the replica never answered"
            time.sleep(0.05)
        app = create_app(Settings(redis_url=url))
        with TestClient(app) as http:
            health = http.get("/healthz")
        assert health.status_code == 503 and "point REDIS_URL at the master" in health.json()["detail"], health.text
        _ping(f"redis://127.0.0.1:{port}/0")  # its master passes
    finally:
        replica.kill()
        replica.wait()
