"""A service on a Redis Cluster whose session's master dies: the helpers of
``test_failover.py`` and ``benchmarks/bench_failover.py``.

The client here keeps its own in-process optimizer of the steps the service acknowledged
(``service_support.reference``), so any acknowledged step a failover lost shows up: the
service then answers 409 with a step below the client's.  A session told in parts (a step
shared by workers, each reporting some of its directions) keeps the parts acknowledged (202) of
its open step too: one missing from a later answer's ``pending`` is a lost part.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import deque
from contextlib import ExitStack, contextmanager

import httpx
import numpy as np
from redis.cluster import RedisCluster
from redis_cluster import LocalCluster
from service_support import apply_zo, objective, reference, x0_for, zo_values

from zoadamm_service import keys
from zoadamm_service.launch import ServiceProcess

DIM = 8
RETRIES = 1000  # a guard: a failover takes a few seconds here (cluster-node-timeout 1 s)
# what the answer that showed a loss says was lost
LOSSES = {404: "session_missing", 409: "steps_lost"}


@contextmanager
def cluster_services(cluster: LocalCluster, count: int = 1, wait_replicas: int = 0, wait_timeout_ms: int = 300,
                     checkpoint_every: int = 1000, processes: list[ServiceProcess] | None = None,
                     settings: dict[str, str] | None = None):
    """``count`` service processes on ``cluster``; yields an httpx client of each.  ``processes``,
    when given, receives the processes (whose ``output()`` is their log); ``settings``: more
    of their environment."""
    env = {"ZOADAMM_REDIS_CLUSTER": "true", "ZOADAMM_REDIS_WAIT_REPLICAS": str(wait_replicas),
           "ZOADAMM_REDIS_WAIT_TIMEOUT_MS": str(wait_timeout_ms), "ZOADAMM_CHECKPOINT_EVERY": str(checkpoint_every),
           **(settings or {})}
    with ExitStack() as stack:
        services = [stack.enter_context(ServiceProcess(cluster.url, env=env)) for _ in range(count)]
        if processes is not None:
            processes.extend(services)
        yield [stack.enter_context(httpx.Client(base_url=s.url, timeout=60)) for s in services]


@contextmanager
def cluster_service(cluster: LocalCluster, wait_replicas: int = 0, wait_timeout_ms: int = 300,
                    settings: dict[str, str] | None = None):
    """A service process on ``cluster``; yields an httpx client of it."""
    with cluster_services(cluster, 1, wait_replicas, wait_timeout_ms, settings=settings) as (http,):
        yield http


def create(http: httpx.Client, directions: int = 1, key: str | None = None) -> httpx.Response:
    """POST a session of the test quadratic, with an Idempotency-Key (a fresh one by default)."""
    body = {"dim": DIM, "directions": directions, "lr": 0.05, "seed": 3, "x0": x0_for(DIM).tolist()}
    return http.post("/v1/sessions", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex})


class Run:
    """One session on a quadratic, and the client's copy of what was acknowledged.  ``parts``:
    each step is told in that many parts of one direction each (the session has as many
    directions), as workers sharing a step would."""

    def __init__(self, http: httpx.Client, parts: int = 1) -> None:
        self.http = http
        self.parts = parts
        self.f, _ = objective(DIM)
        self.creates = 0  # create requests sent (a 503 is retried with the same Idempotency-Key)
        session = self._create()
        self.id = session["id"]
        self.acked = reference(session, x0_for(DIM))  # the steps the service acknowledged, applied here
        self.steps_acked = 0
        self.parts_acked: set[int] = set()  # the open step's directions acknowledged (202)
        self.refused: int | None = None  # the status of the answer that showed a loss (409 or 404)
        self.loss: str | None = None  # what was lost: session_missing, steps_lost or part_lost
        self.answers: deque[tuple] = deque(maxlen=40)  # the latest (time, step, part, status, detail)

    def _create(self) -> dict:
        """Create the session; a 503 (the store failing over, or WAIT: no replica holds the
        create yet) is retried with the same Idempotency-Key, so the retry names the same session."""
        key = uuid.uuid4().hex
        for _ in range(RETRIES):
            self.creates += 1
            try:
                answer = create(self.http, self.parts, key)
            except httpx.TransportError:
                continue
            if answer.status_code != 503:
                assert answer.status_code == 201, answer.text
                return dict(answer.json())
            time.sleep(0.05)
        raise AssertionError(f"the create was refused {RETRIES} times")

    def meta_key(self) -> str:
        return keys.meta(self.id)

    def _post(self, body: dict, part: int | None) -> httpx.Response:
        answer = self.http.post(f"/v1/sessions/{self.id}/tell", json=body)
        fields = answer.json() if answer.status_code != 200 else {}
        detail = fields.get("detail", fields.get("pending"))
        self.answers.append((round(time.time(), 3), body["step"], part, answer.status_code, detail))
        return answer

    def tell(self) -> httpx.Response:
        """Tell the open step whole; on 200 it counts as acknowledged."""
        values = zo_values(self.acked, self.f)
        answer = self._post(values, None)
        if answer.status_code == 200:
            self._acknowledged(values, answer)
        return answer

    def tell_part(self, index: int) -> httpx.Response:
        """Tell direction ``index`` of the open step; 202 acknowledges the part, 200 the step."""
        values = zo_values(self.acked, self.f)
        part = {"step": values["step"], "indices": [index], "f_x": [values["f_x"]],
                "f_plus": [values["f_plus"][index]]}
        answer = self._post(part, index)
        if answer.status_code == 202:
            if self.parts_acked & set(answer.json()["pending"]):
                self.loss = "part_lost"  # a part acknowledged before is pending again
            self.parts_acked.add(index)
        elif answer.status_code == 200:
            self._acknowledged(values, answer)
        return answer

    def _acknowledged(self, values: dict, answer: httpx.Response) -> None:
        apply_zo(self.acked, values)
        self.steps_acked += 1
        self.parts_acked.clear()
        assert np.array_equal(np.asarray(answer.json()["x"], np.float32), self.acked.state.x)

    def tell_until_acknowledged(self, stop: threading.Event | None = None) -> int:
        """Tell the open step (each of its parts in turn) until it is acknowledged; the steps
        lost before it (a 409 naming an earlier step means the service no longer has steps the
        client was told it took, a 404 that it lost the session; ``refused`` and ``loss`` keep
        which).  A loss is final: the client's copy is then ahead of the service, and telling
        again would only repeat the refusal.  ``stop`` set ends the retries early (0: nothing
        lost so far)."""
        step = self.acked.step
        for index in range(self.parts):
            if index in self.parts_acked:
                continue
            lost = self._until_answered(index, stop)
            if lost or self.loss or (stop is not None and stop.is_set()) or self.acked.step > step:
                return lost
        return 0

    def _until_answered(self, index: int, stop: threading.Event | None) -> int:
        for _ in range(RETRIES):
            if stop is not None and stop.is_set():
                return 0
            try:
                answer = self.tell() if self.parts == 1 else self.tell_part(index)
            except httpx.TransportError:
                continue
            if answer.status_code in (200, 202):
                return 0
            if answer.status_code in LOSSES:
                self.refused, self.loss = answer.status_code, LOSSES[answer.status_code]
                if answer.status_code == 404:
                    return self.acked.step  # the session itself is gone, and all its steps
                return self.acked.step - int(answer.json()["step"])
            assert answer.status_code == 503, answer.text  # the store is failing over: retry
            time.sleep(0.05)
        raise AssertionError(f"step {self.acked.step} was refused {RETRIES} times")

    def server_step(self) -> int:
        return int(self.http.get(f"/v1/sessions/{self.id}").json()["step"])

    def x_equal(self, http: httpx.Client) -> bool:
        """Whether the service behind ``http`` has x equal, bit for bit, to the client's copy."""
        answer = http.get(f"/v1/sessions/{self.id}/x")
        assert answer.status_code == 200, answer.text
        return bool(np.array_equal(np.asarray(answer.json()["x"], np.float32), self.acked.state.x))


@contextmanager
def replica_stopped(cluster: LocalCluster, master: int, cut: bool = False):
    """The master's replica gets nothing while the block runs: stopped (SIGSTOP), its link
    still up, as a replica just past a full sync whose master holds the stream back; with
    ``cut`` its link is cut too (what is sent later never reaches it), as a partitioned one.
    It resumes on leaving the block."""
    replica = cluster.replica_of(master)
    os.kill(cluster.procs[replica].pid, signal.SIGSTOP)
    try:
        if cut:
            with cluster.node(master) as node:
                node.client_kill_filter(_type="replica")
        yield replica
    finally:
        os.kill(cluster.procs[replica].pid, signal.SIGCONT)


def replica_cut_off(cluster: LocalCluster, master: int):
    """The master's replica lags: stopped, its link cut; it resumes on leaving the block."""
    return replica_stopped(cluster, master, cut=True)


@contextmanager
def replica_link_cut(cluster: LocalCluster, master: int):
    """A partition between the master and its replica: the replica keeps running and answering
    the cluster (so it stays assigned, and can be promoted), but its replication link is cut
    and stays cut (it cannot authenticate to its master) until the block ends."""
    replica = cluster.replica_of(master)
    with cluster.node(replica) as node:
        node.config_set("masteruser", "partitioned")
        node.config_set("masterauth", "nothing")
    with cluster.node(master) as node:
        node.client_kill_filter(_type="replica")
        while node.info("replication")["connected_slaves"]:
            time.sleep(0.01)
    try:
        yield replica
    finally:
        with cluster.node(replica) as node:
            node.config_set("masterauth", "")
            node.config_set("masteruser", "")


def masters(cluster: LocalCluster) -> list[int]:
    with cluster.client() as client:
        return [int(node.port) for node in client.get_primaries()]


# These ask a master (``via``) for the cluster's layout: a stopped replica would not answer.
def meta_keys(via: int) -> set[str]:
    """The meta key of every session on the cluster's masters."""
    with RedisCluster(host="127.0.0.1", port=via, socket_timeout=5) as client:
        return {key.decode() for key in client.scan_iter(match="zoadamm:{*}:meta", target_nodes=client.PRIMARIES)}


def master_of(via: int, key: str) -> int:
    with RedisCluster(host="127.0.0.1", port=via, socket_timeout=5) as client:
        return int(client.get_node_from_key(key).port)
