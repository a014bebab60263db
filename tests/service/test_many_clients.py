"""Many clients at once: a burst far larger than the service's connections to Redis queues for
them; what cannot be served within its budget is shed with 503 and Retry-After, and the SDK's
retries (which honour it) absorb that, so no client sees an error and no create is applied
twice.  A real service process with a small pool, over HTTP, on a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from test_hung_redis import OwnRedis

import zoadamm
from zoadamm_service import keys
from zoadamm_service.launch import ServiceProcess

CLIENTS = 200
POOL = 4  # connections to Redis: 50 clients for each


async def create_and_step(url: str, seed: int) -> str:
    async with zoadamm.AsyncClient(url) as client:
        session = await client.sessions.create(2, x0=np.array([1.0, -1.0], np.float32), seed=seed, lr=0.1)
        told = await client.sessions.tell(session.id, 0, f_x=2.0, f_plus=[2.5])
        assert told.step == 1
        return session.id


async def burst(url: str) -> list[str | BaseException]:
    return await asyncio.gather(*(create_and_step(url, seed) for seed in range(CLIENTS)), return_exceptions=True)


def test_a_burst_of_creates_against_a_small_pool_has_no_errors(redis_url, redis_client):
    env = {"ZOADAMM_REDIS_MAX_CONNECTIONS": str(POOL)}
    with ServiceProcess(redis_url, env=env) as svc:
        results = asyncio.run(burst(svc.url))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == [], f"{len(errors)} of {CLIENTS} failed, the first: {errors[0]!r}"
    assert len(set(results)) == CLIENTS
    listed = sum(redis_client.zcard(k) for k in redis_client.scan_iter(keys.tenant_sessions("*")))
    assert listed == CLIENTS  # each create applied once, however often it was sent


def test_a_call_that_cannot_get_its_turn_in_time_gets_503_with_retry_after():
    """One call at a time (ZOADAMM_MAX_CALLS=1), held by a call stuck on a stopped Redis (within
    its 10 s budget): the next call, a GET or a POST once its body is in, waits its turn and is
    refused, naming the setting, and makes nothing; once the turn is free every call is served."""
    env = {"ZOADAMM_MAX_CALLS": "1", "ZOADAMM_QUEUE_TIMEOUT_S": "0.5", "ZOADAMM_REDIS_TIMEOUT_S": "10"}
    own_redis = OwnRedis()
    with contextlib.ExitStack() as stack:
        stack.callback(own_redis.end)
        svc = stack.enter_context(ServiceProcess(own_redis.url, env=env))
        http = stack.enter_context(httpx.Client(base_url=svc.url, timeout=60))
        assert http.get("/v1/sessions").json()["total"] == 0
        own_redis.stop()
        try:
            with ThreadPoolExecutor(1) as pool:
                stuck = pool.submit(http.get, "/v1/sessions")
                time.sleep(2.0)  # it holds the one turn, waiting on Redis
                for refused in (http.get("/v1/sessions"), http.post("/v1/sessions", json={"dim": 2})):
                    assert refused.status_code == 503, refused.text
                    assert "ZOADAMM_MAX_CALLS" in refused.json()["detail"]
                    assert int(refused.headers["Retry-After"]) >= 1
                own_redis.resume()
                assert stuck.result().status_code == 200
        finally:
            own_redis.resume()
        assert http.get("/v1/sessions").json()["total"] == 0  # the refused create made nothing
        assert http.post("/v1/sessions", json={"dim": 2}).status_code == 201


def test_a_wait_for_a_lease_gives_its_turn_to_other_calls(redis_url):
    """A lease's wait does no work: on a service of one turn, another tenant's calls are served
    while it waits, and it still answers when its wait ends."""
    env = {"ZOADAMM_MAX_CALLS": "1", "ZOADAMM_QUEUE_TIMEOUT_S": "0.5"}
    with ServiceProcess(redis_url, env=env) as svc, httpx.Client(base_url=svc.url, timeout=60) as http:
        sid = http.post("/v1/sessions", json={"dim": 2, "directions": 1, "x0": [0.0, 1.0]}).json()["id"]
        ask = {"lease": 1, "worker": "first"}
        assert http.post(f"/v1/sessions/{sid}/ask", json=ask).json()["leased"] == [0]
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(http.post, f"/v1/sessions/{sid}/ask", json={**ask, "worker": "second", "wait": 3})
            time.sleep(0.5)  # it waits for the held direction
            for _ in range(10):
                assert http.get("/v1/sessions").status_code == 200
                assert http.post("/v1/sessions", json={"dim": 2}).status_code == 201
            assert not waiting.done()
            answered = waiting.result()
        assert answered.status_code == 200 and answered.json()["leased"] == []


def test_a_tell_waiting_for_its_step_to_close_gives_its_turn_to_other_calls(redis_url):
    """The same for a tell with lease (its part in, the other worker's still out): the turn it
    took after its body goes to other calls while it waits."""
    env = {"ZOADAMM_MAX_CALLS": "1", "ZOADAMM_QUEUE_TIMEOUT_S": "0.5"}
    with ServiceProcess(redis_url, env=env) as svc, httpx.Client(base_url=svc.url, timeout=60) as http:
        sid = http.post("/v1/sessions", json={"dim": 2, "directions": 2, "x0": [0.0, 1.0]}).json()["id"]
        for worker, held in (("a", [0]), ("b", [1])):
            assert http.post(f"/v1/sessions/{sid}/ask", json={"lease": 1, "worker": worker}).json()["leased"] == held
        part = {"step": 0, "f_x": 1.0, "f_plus": [1.5], "indices": [0], "lease": 1, "worker": "a", "wait": 3}
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(http.post, f"/v1/sessions/{sid}/tell?answer=checksum", json=part)
            time.sleep(0.5)  # its part is in; it waits for b's
            for _ in range(10):
                assert http.get("/v1/sessions").status_code == 200
                assert http.post("/v1/sessions", json={"dim": 2}).status_code == 201
            assert not waiting.done()
            answered = waiting.result()
        assert answered.status_code == 202 and answered.json()["pending"] == [1], answered.text


def test_bodies_sent_slowly_hold_no_turn(redis_url):
    """Four POSTs whose bodies never finish arriving, on a service of two turns
    (ZOADAMM_MAX_CALLS=2): other clients' calls are still served at once, since a POST takes its
    turn when its body is in."""
    env = {"ZOADAMM_MAX_CALLS": "2", "ZOADAMM_QUEUE_TIMEOUT_S": "0.5"}
    with ServiceProcess(redis_url, env=env) as svc, httpx.Client(base_url=svc.url, timeout=60) as http:
        sid = http.post("/v1/sessions", json={"dim": 2, "directions": 1, "x0": [0.0, 1.0]}).json()["id"]
        host, port = svc.url.removeprefix("http://").split(":")
        stalled = []
        for _ in range(4):
            sock = socket.create_connection((host, int(port)))
            sock.sendall(f"POST /v1/sessions/{sid}/tell HTTP/1.1\r\nHost: localhost\r\n"
                         f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"step\": 0, ".encode())
            stalled.append(sock)
        try:
            time.sleep(0.3)  # the stalled calls are in, waiting for the rest of their bodies
            assert http.get("/v1/sessions").status_code == 200
            told = http.post(f"/v1/sessions/{sid}/tell", json={"step": 0, "f_x": 1.0, "f_plus": [1.5]})
            assert told.status_code == 200 and told.json()["step"] == 1
            created = http.post("/v1/sessions", json={"dim": 2})
            assert created.status_code == 201, created.text
        finally:
            for sock in stalled:
                sock.close()


def test_a_burst_through_the_rate_limit_waits_for_its_counters_connections(redis_url):
    """The rate limit's counters in Redis, checked before a POST's turn: 150 creates at once
    queue for the counters' connections as for the store's, rather than 503 once redis-py's own
    pool of 100 is in use.  No retries here: every create must be answered 201 the first time."""
    env = {"ZOADAMM_REDIS_MAX_CONNECTIONS": str(POOL), "ZOADAMM_RATE_LIMIT": "199/second"}  # each check asks Redis

    async def creates(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
            answers = await asyncio.gather(*(http.post("/v1/sessions", json={"dim": 2}) for _ in range(150)))
        return [answer.status_code for answer in answers]

    with ServiceProcess(redis_url, env=env) as svc:
        statuses = asyncio.run(creates(svc.url))
    assert statuses == [201] * 150, sorted(set(statuses))
