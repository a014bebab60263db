"""A service on a Redis Cluster whose session's master dies: the helpers of
``test_failover.py`` and ``benchmarks/bench_failover.py``.

The client here keeps its own in-process optimizer of the steps the service acknowledged
(``service_support.reference``), so any acknowledged step a failover lost shows up: the
service then answers 409 with a step below the client's.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager

import httpx
import numpy as np
from redis_cluster import LocalCluster
from service_support import apply_zo, objective, reference, x0_for, zo_values

from zoadamm_service import keys
from zoadamm_service.launch import ServiceProcess

DIM = 8
RETRIES = 1000  # a guard: a failover takes a few seconds here (cluster-node-timeout 1 s)


@contextmanager
def cluster_service(cluster: LocalCluster, wait_replicas: int = 0, wait_timeout_ms: int = 300):
    """A service process on ``cluster``; yields an httpx client of it."""
    env = {"ZOADAMM_REDIS_CLUSTER": "true", "ZOADAMM_REDIS_WAIT_REPLICAS": str(wait_replicas),
           "ZOADAMM_REDIS_WAIT_TIMEOUT_MS": str(wait_timeout_ms)}
    with ServiceProcess(cluster.url, env=env) as service, httpx.Client(base_url=service.url, timeout=60) as http:
        yield http


class Run:
    """One session on a quadratic, and the client's copy of what was acknowledged."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.f, _ = objective(DIM)
        x0 = x0_for(DIM)
        session = self._create(x0)
        self.id = session["id"]
        self.acked = reference(session, x0)  # the steps the service acknowledged, applied here
        self.refused: int | None = None  # the status of the answer that showed a loss (409 or 404)

    def _create(self, x0: np.ndarray) -> dict:
        """Create the session; a 503 (WAIT: the replica does not hold it yet) is retried, and
        the retry creates another session (the refused one is never used)."""
        for _ in range(RETRIES):
            answer = self.http.post("/v1/sessions", json={"dim": DIM, "directions": 1, "lr": 0.05, "seed": 3,
                                                          "x0": x0.tolist()})
            if answer.status_code != 503:
                assert answer.status_code == 201, answer.text
                return dict(answer.json())
            time.sleep(0.05)
        raise AssertionError(f"the create was refused {RETRIES} times")

    def meta_key(self) -> str:
        return keys.meta(self.id)

    def tell(self) -> httpx.Response:
        """Tell the open step; on 200 it counts as acknowledged."""
        values = zo_values(self.acked, self.f)
        answer = self.http.post(f"/v1/sessions/{self.id}/tell", json=values)
        if answer.status_code == 200:
            apply_zo(self.acked, values)
            assert np.array_equal(np.asarray(answer.json()["x"], np.float32), self.acked.state.x)
        return answer

    def tell_until_acknowledged(self, stop: threading.Event | None = None) -> int:
        """Tell the open step until it is acknowledged; the steps lost before it (a 409 naming
        an earlier step means the service no longer has steps the client was told it took, a
        404 that it lost the session; ``refused`` keeps which).  A loss is final: the client's
        copy is then ahead of the service, and telling again would only repeat the refusal.
        ``stop`` set ends the retries early (0: nothing lost so far)."""
        for _ in range(RETRIES):
            if stop is not None and stop.is_set():
                return 0
            try:
                answer = self.tell()
            except httpx.TransportError:
                continue
            if answer.status_code == 200:
                return 0
            if answer.status_code in (404, 409):
                self.refused = answer.status_code
                if answer.status_code == 404:
                    return self.acked.step + 1  # the session itself is gone: its steps and its create
                return self.acked.step - int(answer.json()["step"])
            assert answer.status_code == 503, answer.text  # the store is failing over: retry
            time.sleep(0.05)
        raise AssertionError(f"step {self.acked.step} was refused {RETRIES} times")

    def server_step(self) -> int:
        return int(self.http.get(f"/v1/sessions/{self.id}").json()["step"])


@contextmanager
def replica_cut_off(cluster: LocalCluster, master: int):
    """The master's replica lags: stopped, its link cut (what is sent later never reaches it);
    it resumes on leaving the block."""
    replica = cluster.replica_of(master)
    os.kill(cluster.procs[replica].pid, signal.SIGSTOP)
    try:
        with cluster.node(master) as node:
            node.client_kill_filter(_type="replica")
        yield replica
    finally:
        os.kill(cluster.procs[replica].pid, signal.SIGCONT)
