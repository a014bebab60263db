"""The balancer of docker-compose.yml (deploy/haproxy/haproxy.cfg) in front of three service
processes on one Redis, run for real: HAProxy with the repository's config, only the replicas'
addresses and the listen port rewritten.

Runs through the balancer must be bit-identical to the same runs against one replica, and the
balancer must keep its edge limits: the body limit of ZOADAMM_MAX_BODY_BYTES' default, one
deadline for a whole request however slowly it comes, and per-client connections and rate.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time

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
BODY_TIMEOUT_S = 5  # the replicas' deadline for a whole body (ZOADAMM_BODY_TIMEOUT_S), short here


@pytest.fixture(scope="module")
def deployment(module_redis_url, tmp_path_factory):
    """Three replicas on one Redis, and the balancer in front of them."""
    env = {"ZOADAMM_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}
    replicas = [ServiceProcess(module_redis_url, env=env) for _ in range(REPLICAS)]
    try:
        for replica in replicas:
            replica.start()
        balancer = Balancer([r.port for r in replicas], tmp_path_factory.mktemp("balancer"))
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
    assert f"req.hdr_val(content-length) gt {limit}" in CONFIG.read_text()
    too_large = httpx.post(balancer.url + "/v1/sessions", content=b"x" * (limit + 1),
                           headers={"content-type": "application/json"})
    assert too_large.status_code == 413 and "67108864-byte limit" in too_large.json()["detail"]
    # at the limit it reaches a replica, which reads it all and finds it is not a frame
    at_limit = httpx.post(balancer.url + "/v1/sessions", content=b"x" * limit,
                          headers={"content-type": "application/vnd.zoadamm.frame"}, timeout=60)
    assert at_limit.status_code == 400 and "frame" in at_limit.json()["detail"], at_limit.text


def trickle(port: int, head: bytes, body: bytes, every_s: float, source: str = "127.0.0.1") -> tuple[bytes, int]:
    """Sends ``head`` at once, then ``body`` a byte every ``every_s`` seconds until the balancer
    answers or closes; what it answered and how many body bytes went out."""
    with socket.create_connection(("127.0.0.1", port), source_address=(source, 0)) as slow:
        slow.sendall(head)
        slow.settimeout(every_s)
        for sent, byte in enumerate(body):
            try:
                answer = slow.recv(4096)
                return answer, sent
            except TimeoutError:
                pass
            try:
                slow.sendall(bytes([byte]))
            except OSError:  # closed by the balancer
                return b"", sent + 1
        slow.settimeout(30)  # a guard: the whole body went out
        return slow.recv(4096), len(body)


@pytest.fixture
def strict_balancer(deployment, tmp_path):
    """The balancer with a 2 s deadline for a whole request, 5 connections and 20 requests in
    10 s per client address."""
    _, replicas = deployment
    # request_s: 2 seconds, a bare number as an operator writes it (HAProxy alone reads it as ms)
    balancer = Balancer([r.port for r in replicas], tmp_path, request_s="2", connections="5", rate="20")
    yield balancer
    balancer.stop()


def test_a_client_trickling_its_headers_is_cut_off(strict_balancer):
    """uvicorn would wait for ever; the balancer answers 408 once the request's deadline has
    passed, and answers everyone else meanwhile."""
    with socket.create_connection(("127.0.0.1", strict_balancer.port)) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        assert httpx.get(strict_balancer.url + "/healthz").status_code == 200
        slow.settimeout(30)  # a guard; the balancer answers after 2 s
        answer = slow.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_request_slower_than_a_millisecond_is_within_the_deadline_in_seconds(strict_balancer):
    """ZOADAMM_BALANCER_REQUEST_S=2 is 2 s: given to HAProxy as it was, a bare number was 2 ms, and
    a request whose parts arrived 0.3 s apart got 408."""
    with socket.create_connection(("127.0.0.1", strict_balancer.port)) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.3)
        client.sendall(b"Connection: close\r\n\r\n")
        client.settimeout(30)
        answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_a_trickled_body_is_cut_off_by_one_deadline_for_the_whole_request(strict_balancer):
    """A byte every half second resets any per-read timer; the deadline counts the whole
    request, so the balancer answers 408 long before the 600 bytes are in, and no replica saw it."""
    head = (b"POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 600\r\n\r\n")
    answer, sent = trickle(strict_balancer.port, head, b"x" * 600, every_s=0.5)
    assert answer.startswith(b"HTTP/1.1 408") and sent < 600, (answer, sent)
    assert b'"detail": "the request did not arrive in full within the balancer' in answer


def test_a_trickled_body_larger_than_the_buffer_meets_the_replicas_deadline(strict_balancer):
    """Past HAProxy's 16 KiB buffer the body streams on to a replica, whose own deadline for a
    whole body (ZOADAMM_BODY_TIMEOUT_S) answers 408."""
    size = 1 << 20
    head = (b"POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/vnd.zoadamm.frame\r\n"
            b"Content-Length: " + str(size).encode() + b"\r\n\r\n" + b"x" * (64 * 1024))
    answer, sent = trickle(strict_balancer.port, head, b"x" * size, every_s=0.5)
    assert answer.startswith(b"HTTP/1.1 408") and sent < size, (answer[:200], sent)
    assert b"the body did not arrive within" in answer


def until_served(url: str) -> bool:
    """Whether ``url`` answers 200 within a few tries: the balancer learns of a close soon after it."""
    for _ in range(100):
        try:
            return httpx.get(url).status_code == 200
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def test_each_client_address_gets_a_few_connections(strict_balancer):
    """Five open connections from one address; the sixth is closed at once, while another
    address is served.  Closing one frees its place."""
    held = [socket.create_connection(("127.0.0.1", strict_balancer.port)) for _ in range(5)]
    try:
        for sock in held:  # each answered once, so the balancer has taken and counted it
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(30)  # a guard
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        with socket.create_connection(("127.0.0.1", strict_balancer.port)) as sixth:
            sixth.settimeout(30)  # a guard; the balancer closes it at once
            try:
                sixth.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                refused = sixth.recv(4096)
            except ConnectionResetError:
                refused = b""
        assert refused == b"", "closed without an answer"
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        assert other.get(strict_balancer.url + "/healthz").status_code == 200
        other.close()
        held.pop().close()
        assert until_served(strict_balancer.url + "/healthz"), "a freed place is not given again"
    finally:
        for sock in held:
            sock.close()


def test_each_client_address_gets_a_request_rate_and_then_429(strict_balancer):
    with httpx.Client(base_url=strict_balancer.url) as client:
        statuses = [client.get("/healthz") for _ in range(30)]
    assert [a.status_code for a in statuses] == [200] * 20 + [429] * 10
    refused = statuses[-1]
    assert refused.headers["retry-after"] == "1" and "too many requests" in refused.json()["detail"]
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    assert other.get(strict_balancer.url + "/healthz").status_code == 200  # another address is not slowed
    other.close()


def test_behind_the_balancer_each_client_is_counted_apart_and_cannot_name_another(module_redis_url, tmp_path):
    """The compose setup: replicas that believe the balancer's X-Forwarded-For. The balancer
    drops a client's own header, so a client naming other addresses is still counted as itself,
    while another client (another source address) has its own count of failed keys."""
    import yaml

    from zoadamm_service.tenants import entry, new_key

    compose = yaml.safe_load((CONFIG.parents[2] / "docker-compose.yml").read_text())
    believed = compose["services"]["service"]["environment"]["FORWARDED_ALLOW_IPS"]  # as compose runs them
    env = {"ZOADAMM_API_KEYS": entry("alice", new_key()), "ZOADAMM_AUTH_FAIL_LIMIT": "3/minute",
           "FORWARDED_ALLOW_IPS": believed}
    with ServiceProcess(module_redis_url, env=env) as replica:
        balancer = Balancer([replica.port], tmp_path)
        try:
            def wrong_keys(source: str, forged: bool) -> list[int]:
                transport = httpx.HTTPTransport(local_address=source)
                with httpx.Client(base_url=balancer.url, transport=transport, timeout=30) as http:
                    return [http.get("/v1/sessions", headers={
                        "Authorization": f"Bearer {new_key()}", **({"X-Forwarded-For": f"10.9.{i}.1"} if forged else {})
                    }).status_code for i in range(5)]

            assert wrong_keys("127.0.0.2", forged=True) == [401, 401, 401, 429, 429]
            assert wrong_keys("127.0.0.3", forged=False) == [401, 401, 401, 429, 429]  # a count of its own
        finally:
            balancer.stop()


def test_while_redis_is_down_clients_hear_the_replicas_503_not_that_no_replica_answers(tmp_path):
    """A replica whose Redis is down answers /healthz 503 and stays in the balancer's rotation,
    so a call gets the replica's own 503 (the store, Retry-After) however long the outage lasts,
    where the balancer used to drop every replica and answer "no replica of the service answers"."""
    from zoadamm_service.launch import free_port

    port = free_port()
    redis_server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        with ServiceProcess(f"redis://127.0.0.1:{port}/0", env={"ZOADAMM_REDIS_TIMEOUT_S": "0.5"}) as replica:
            balancer = Balancer([replica.port], tmp_path)
            try:
                with httpx.Client(base_url=balancer.url, timeout=30) as http:
                    assert http.post("/v1/sessions", json={"dim": 2}).status_code == 201
                    redis_server.terminate()
                    redis_server.wait(10)
                    details = []
                    ends = time.monotonic() + 8  # past the balancer's two failed checks, 2 s apart
                    while time.monotonic() < ends:
                        answer = http.post("/v1/sessions", json={"dim": 2})
                        assert answer.status_code == 503 and "Retry-After" in answer.headers, answer.text
                        details.append(answer.json()["detail"])
                        time.sleep(0.25)
                assert len(details) > 10 and all("Redis" in detail for detail in details), set(details)
            finally:
                balancer.stop()
    finally:
        redis_server.kill()
        redis_server.wait(10)


class ClosingReplica:
    """A replica that reads each request's head and closes the connection without answering, as
    one killed after it applied the request would (its health check alone is answered): counts
    the requests that reached it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536) or b"\r\n\r\n"
                line = data.split(b"\r\n", 1)[0]
                if line.startswith(b"GET /healthz "):  # the balancer's health check: up
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                else:
                    self.requests.append(line)


@pytest.mark.parametrize(("method", "path", "headers", "sent"), [
    ("POST", "/v1/sessions", {}, 1),  # a create or a report without a key: applied once at most
    ("POST", "/v1/sessions", {"Idempotency-Key": "k1"}, 3),  # a repeat is answered from the key's record
    ("POST", f"/v1/sessions/{'0' * 32}/tell", {}, 3),  # a tell is applied once per step
    ("GET", "/v1/sessions", {}, 3),
], ids=["post", "post-with-key", "tell", "get"])
def test_the_balancer_sends_a_request_again_only_where_a_repeat_is_harmless(tmp_path, method, path, headers, sent):
    """A replica that closed without answering may have applied the request: the balancer tries
    again (``retries 2``) only a request that means the same done twice, and answers the rest
    502 in the service's JSON shape, for the client to retry with its Idempotency-Key."""
    replica = ClosingReplica()
    balancer = Balancer([replica.port], tmp_path)
    try:
        answer = httpx.request(method, balancer.url + path, json={"dim": 2}, headers=headers, timeout=30)
    finally:
        balancer.stop()
        replica.server.close()
    assert answer.status_code == 502
    assert "replica" in answer.json()["detail"]
    assert len(replica.requests) == sent, replica.requests
