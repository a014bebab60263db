"""The balancer of docker-compose.yml (deploy/nginx/nginx.conf) in front of three service
processes on one Redis, run for real: nginx with the repository's config, only `service:8000`
rewritten to the three replicas' ports and the listen port to a free one.

Runs through the balancer must be bit-identical to the same runs against one replica, and the
balancer must keep its edge limits (the body limit of ZOADAMM_MAX_BODY_BYTES' default, the slow
client cut off).
"""

from __future__ import annotations

import re
import socket

import httpx
import numpy as np
import pytest
import redis
from balancer_support import CONFIG, Balancer
from objectives import bits, quadratic, x0_for

import zoadamm
from zoadamm_service import keys
from zoadamm_service.launch import ServiceProcess
from zoadamm_service.settings import Settings

REPLICAS = 3
DIM, STEPS = 20, 60


@pytest.fixture(scope="module")
def deployment(module_redis_url, tmp_path_factory):
    """Three replicas on one Redis, and the balancer in front of them."""
    replicas = [ServiceProcess(module_redis_url) for _ in range(REPLICAS)]
    try:
        for replica in replicas:
            replica.start()
        balancer = Balancer([r.port for r in replicas], tmp_path_factory.mktemp("nginx"))
        yield balancer, replicas
        balancer.stop()
    finally:
        for replica in replicas:
            replica.stop()


def steps_served(replica: ServiceProcess) -> float:
    text = httpx.get(replica.url + "/metrics").text
    return sum(float(v) for v in re.findall(r'^zoadamm_steps_total\{[^}]*\} (\S+)$', text, re.M))


def mirrored_run(url: str) -> tuple[str, bytes]:
    """The SDK's fastest mode: the client mirrors the update, tells go in the background."""
    f = quadratic(DIM)
    with zoadamm.Client(url) as client:
        run = zoadamm.RemoteOptimizer.create(client, x0_for(DIM), lr=0.05, mu=1e-3, directions=2, seed=11,
                                             mirror=True, pipeline=True)
        for _ in range(STEPS):
            u = run.directions()
            run.tell(f_x=f(run.x), f_plus=[f(run.x + np.float32(run.mu) * ui) for ui in u])
        run.flush()
        served = client.sessions.parameters(run.id)
        assert served.step == STEPS and bits(served.x) == bits(run.x)  # the mirror agrees
        run.close()
    return run.id, bits(served.x)


def plain_run(url: str) -> tuple[str, bytes]:
    """x in every answer, each step one POST in plain JSON."""
    f = quadratic(DIM)
    with httpx.Client(base_url=url) as http:
        session = http.post("/v1/sessions", json={"dim": DIM, "directions": 1, "lr": 0.05, "seed": 12,
                                                   "x0": x0_for(DIM).tolist()}).json()
        x = np.asarray(session.get("x") or x0_for(DIM), np.float32)
        for step in range(STEPS):
            u = zoadamm.directions(session["config"]["seed"], step, 1, DIM, "sphere")
            mu = np.float32(session["config"]["mu"])
            answer = http.post(f"/v1/sessions/{session['id']}/tell",
                               json={"step": step, "f_x": f(x), "f_plus": [f(x + mu * u[0])]})
            assert answer.status_code == 200, answer.text
            x = np.asarray(answer.json()["x"], np.float32)
    return session["id"], bits(x)


def journal(redis_url: str, session_id: str) -> list[bytes]:
    with redis.Redis.from_url(redis_url) as client:
        return client.lrange(keys.events(session_id), 0, -1)


@pytest.mark.parametrize("run", [mirrored_run, plain_run], ids=["sdk-mirror-pipeline", "plain"])
def test_three_replicas_behind_the_balancer_match_one_replica(deployment, module_redis_url, run):
    balancer, replicas = deployment
    before = [steps_served(r) for r in replicas]
    alone_id, alone_x = run(replicas[0].url)
    spread_id, spread_x = run(balancer.url)
    assert spread_x == alone_x
    assert journal(module_redis_url, spread_id) == journal(module_redis_url, alone_id)
    assert len(journal(module_redis_url, spread_id)) == STEPS
    served = [steps_served(r) - b for r, b in zip(replicas, before, strict=True)]
    served[0] -= STEPS  # the single-replica run's steps
    assert sum(served) == STEPS and all(n > 0 for n in served), served  # every replica took steps


def test_the_balancer_refuses_a_body_over_the_services_limit(deployment):
    balancer, replicas = deployment
    limit = Settings.model_fields["max_body_bytes"].default
    assert "client_max_body_size 64m;" in CONFIG.read_text() and limit == 64 * 1024 * 1024
    too_large = httpx.post(balancer.url + "/v1/sessions", content=b"x" * (limit + 1),
                           headers={"content-type": "application/json"})
    assert too_large.status_code == 413 and "67108864-byte limit" in too_large.json()["detail"]
    # at the limit it reaches a replica, which reads it all and finds it is not a frame
    at_limit = httpx.post(balancer.url + "/v1/sessions", content=b"x" * limit,
                          headers={"content-type": "application/vnd.zoadamm.frame"}, timeout=60)
    assert at_limit.status_code == 400 and "frame" in at_limit.json()["detail"], at_limit.text


def test_a_client_trickling_its_headers_is_cut_off(deployment, tmp_path):
    """uvicorn would wait for ever; nginx closes the connection after client_header_timeout
    (10 s in the config, 1 s here), and answers everyone else meanwhile."""
    _, replicas = deployment
    balancer = Balancer([r.port for r in replicas], tmp_path, header_timeout="1s")
    try:
        with socket.create_connection(("127.0.0.1", balancer.port)) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            assert httpx.get(balancer.url + "/healthz").status_code == 200
            slow.settimeout(30)  # a guard; the balancer closes it after 1 s
            answer = slow.recv(4096)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
    finally:
        balancer.stop()
