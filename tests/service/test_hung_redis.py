"""Waits behind a hung Redis: every call's whole wait on the store, the session's lock
included, shares one budget (``ZOADAMM_REDIS_TIMEOUT_S``, 2 s), so twenty tells queued on one
session all get 503 with Retry-After within 2.5 s, and ``/metrics`` answers from memory; a call
left with a sliver of its budget waits that sliver, not a socket timeout.  And a restarted Redis
is answered at once.  A real redis-server of the test's own (SIGSTOPped,
SIGCONTinued, restarted), and a real service over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import redis
from service_support import apply_zo, bits, objective, reference, x0_for, zo_values

from zoadamm_service.errors import StoreUnavailable
from zoadamm_service.launch import ServiceProcess, free_port
from zoadamm_service.store import budget
from zoadamm_service.store.redis import RedisStore
from zoadamm_service.tenants import entry, new_key

DIM, QUEUED = 4, 20
# A latency property of the service: the budget (2 s) plus the time to answer, for every call,
# the ones queued on one session's lock included (2 s of it for a loaded machine: what it tells
# apart is one budget from several queued ones, 40 s, or the client's 60 s).
ANSWER_S = 4.0
QUEUED_ANSWER_S = 4.0
# A call that reaches Redis with a sliver of its budget left (after waiting for a session's lock)
SLIVER_S, SLIVERS = 0.0005, 40


class OwnRedis:
    """A redis-server on a free port that the test stops, resumes and restarts (on that port)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.server = self._start()

    def _start(self) -> subprocess.Popen:
        server = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--logfile", ""], stdout=subprocess.DEVNULL)
        with redis.Redis(port=self.port) as client:
            while True:  # until it answers; a server that died fails here rather than hangs
                assert server.poll() is None, f"redis-server did not start on port {self.port}"
                try:
                    client.ping()
                    return server
                except redis.ConnectionError:
                    time.sleep(0.05)

    def stop(self) -> None:
        os.kill(self.server.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.server.pid, signal.SIGCONT)

    def restart(self) -> None:
        self.end()
        self.server = self._start()

    def end(self) -> None:
        self.resume()
        self.server.terminate()
        self.server.wait()


@pytest.fixture
def own_redis():
    """An ``OwnRedis``, always resumed and shut down after the test."""
    server = OwnRedis()
    try:
        yield server
    finally:
        server.end()


def timed(http: httpx.Client, method: str, path: str, **kwargs) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    answer = http.request(method, path, **kwargs)
    return answer, time.perf_counter() - started


@pytest.mark.parametrize("rate_limit", [None, "1000/second"])
def test_every_call_behind_a_hung_redis_gets_503_within_the_budget(own_redis, rate_limit):
    url, stop, resume = own_redis.url, own_redis.stop, own_redis.resume
    key = new_key()
    env = {"ZOADAMM_API_KEYS": entry("alice", key), "ZOADAMM_RETRY_AFTER_S": "3",
           **({"ZOADAMM_RATE_LIMIT": rate_limit} if rate_limit else {})}
    headers = {"Authorization": f"Bearer {key}"}
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    with ServiceProcess(url, env=env) as svc, httpx.Client(base_url=svc.url, headers=headers, timeout=60) as http:
        session = http.post("/v1/sessions", json={"dim": DIM, "directions": 2, "x0": x0.tolist()}).json()
        sid, opt = session["id"], reference(session, x0)
        values = zo_values(opt, f)
        assert http.post(f"/v1/sessions/{sid}/tell", json=values).status_code == 200
        apply_zo(opt, values)
        values = zo_values(opt, f)
        tell = f"/v1/sessions/{sid}/tell"

        # one connection per queued client, open before Redis hangs: the time measured is the
        # service's answer, not the client's connection set-up on a busy machine
        clients = [httpx.Client(base_url=svc.url, headers=headers, timeout=60) for _ in range(QUEUED)]
        for own in clients:
            assert own.get("/healthz").status_code == 200
        stop()
        try:
            first, seconds = timed(http, "POST", tell, json=values)
            assert first.status_code == 503 and seconds < ANSWER_S, (first.text, seconds)

            with ThreadPoolExecutor(QUEUED) as pool:
                answers = list(pool.map(lambda own: timed(own, "POST", tell, json=values), clients))
            assert [a.status_code for a, _ in answers] == [503] * QUEUED, [a.text for a, _ in answers]
            assert all(a.headers["Retry-After"] == "3" for a, _ in answers)  # ZOADAMM_RETRY_AFTER_S, rate limit or not
            assert max(s for _, s in answers) < QUEUED_ANSWER_S, sorted(s for _, s in answers)
            assert all("Redis" in a.json()["detail"] for a, _ in answers)

            metrics, seconds = timed(http, "GET", "/metrics")
            assert metrics.status_code == 200 and "zoadamm_steps_total" in metrics.text
            assert seconds < ANSWER_S, seconds
            health, seconds = timed(http, "GET", "/healthz")
            assert health.status_code == 503 and "Retry-After" in health.headers and seconds < ANSWER_S
        finally:
            resume()
            for own in clients:
                own.close()

        # nothing acknowledged was lost, and the refused tell, sent again, is applied once
        answer = http.post(tell, json=values)
        assert answer.status_code == 200, answer.text
        apply_zo(opt, values)
        assert answer.json()["step"] == 2 and bits(np.array(answer.json()["x"], np.float32)) == bits(opt.state.x)


def test_a_sliver_of_budget_left_is_all_a_call_waits_on_a_hung_redis(own_redis):
    """Each call gets 503 for its budget, never for the socket timeout (2 s) that follows a
    cancellation redis-py's write swallowed (``asyncio.wait_for`` on Python 3.11): the
    connection's handshake and a command's write both run under it."""

    async def calls() -> list[str]:
        store = RedisStore.from_url(own_redis.url, timeout_s=2.0)
        await store.ping()
        own_redis.stop()
        messages = []
        try:
            for _ in range(SLIVERS):
                budget.start(SLIVER_S)
                try:
                    await store.head("any")
                    messages.append("answered")
                except StoreUnavailable as exc:
                    messages.append(exc.message)
        finally:
            own_redis.resume()
            await store.close()
        return messages

    messages = asyncio.run(calls())
    assert all("waited 0.0005 s for Redis" in m for m in messages), [m for m in messages if "waited" not in m]


def test_the_first_call_after_a_redis_restart_is_answered(own_redis):
    """Every pooled connection is dead after a restart: a command that fails on one is sent once
    more on a fresh connection, so /healthz and the API answer at once rather than 503."""
    with ServiceProcess(own_redis.url) as svc, httpx.Client(base_url=svc.url, timeout=60) as http:
        # several connections in the pool, all of them used
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(lambda _: http.get("/v1/sessions").status_code, range(32))) == {200}
        for _ in range(3):
            own_redis.restart()
            assert http.get("/healthz").status_code == 200
            created = http.post("/v1/sessions", json={"dim": 2, "x0": [0.0, 1.0]})
            assert created.status_code == 201, created.text


def test_a_name_lookup_left_behind_by_a_cancelled_connect_is_one_line(caplog):
    """While Redis's host name does not resolve (its container stopped), a lookup whose connect a
    call's budget cancelled fails later in a future nobody awaits: asyncio logged each such
    failure with a traceback.  The service's loop says it in one line; other errors as before."""
    import gc
    import socket

    from zoadamm_service.main import create_app
    from zoadamm_service.store import faults
    from zoadamm_service.store.memory import MemoryStore

    async def main() -> object:
        loop = asyncio.get_running_loop()
        app = create_app(store=MemoryStore())
        async with app.router.lifespan_context(app):
            installed = loop.get_exception_handler()
            for error in (socket.gaierror(-3, "Temporary failure in name resolution"), ValueError("other")):
                abandoned = loop.create_future()
                abandoned.set_exception(error)
                del abandoned
                gc.collect()
        return installed

    with caplog.at_level("WARNING"):
        assert asyncio.run(main()) is faults.said_briefly
    lookup = [r for r in caplog.records if "name lookup" in r.getMessage()]
    assert len(lookup) == 1 and lookup[0].levelname == "WARNING" and lookup[0].exc_info is None
    assert "Temporary failure in name resolution" in lookup[0].getMessage()
    others = [r for r in caplog.records if r.name == "asyncio"]
    assert len(others) == 1 and "ValueError" in str(others[0].exc_info) and "never retrieved" in others[0].getMessage()
