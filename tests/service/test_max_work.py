"""CPU per request: a session's q * d is bounded (``ZOADAMM_MAX_WORK``), and the largest
allowed session's work (create, ask with vectors, tell, checkpoint, delete) leaves the event
loop, and its checkpoint never passes through a Lua script (which would hold Redis for every
client), so ``/healthz`` keeps answering meanwhile.  A real service process over HTTP, on
a real Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from zoadamm import wire
from zoadamm_service.launch import ServiceProcess

FRAME = wire.MEDIA_TYPE
# The largest session this service allows: q * d = MAX_WORK.  Small enough for CI, large
# enough that its calls take long enough to tell a stalled /healthz apart, on a fast machine
# too: the ask makes q * d normals and sends them, the tell makes them again.
DIM, Q = 1 << 21, 8
MAX_WORK = DIM * Q
# The ask's answer holds q * d float32 values: 64 MiB, past the default bound on a body.
MAX_BODY_BYTES = 2 * 4 * MAX_WORK
POLL_S = 0.02
# The work held on the event loop would hold every /healthz answer for as long as it lasts:
# each call of the work that lasts this long is checked (shorter ones cannot stall much: a
# /healthz on a loaded machine waits tens of ms for the cores alone, which half of a 0.1 s delete
# did not tell apart from a stall).
CHECKED_S = 0.25
# Rounds of the whole work, each on a new session: a stall of the loop shows in all of them.
ROUNDS = 3


@pytest.fixture
def service(redis_url):
    env = {"ZOADAMM_MAX_DIM": str(DIM), "ZOADAMM_MAX_WORK": str(MAX_WORK), "ZOADAMM_CHECKPOINT_EVERY": "1",
           "ZOADAMM_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with ServiceProcess(redis_url, env=env) as svc, httpx.Client(base_url=svc.url, timeout=120) as http:
        yield svc, http


def frame_post(http: httpx.Client, path: str, fields: dict, vectors: dict | None = None) -> httpx.Response:
    return http.post(path, content=wire.encode(fields, vectors or {}),
                     headers={"Content-Type": FRAME, "Accept": FRAME})


def test_a_session_over_max_work_is_refused_naming_the_setting(service):
    _, http = service
    r = http.post("/v1/sessions", json={"dim": DIM, "directions": Q + 1})
    assert r.status_code == 422, r.text
    assert "ZOADAMM_MAX_WORK" in r.json()["detail"] and "directions * dim" in r.json()["detail"]
    assert http.get("/v1/sessions").json()["total"] == 0  # nothing was created
    # adamm's step is O(d) whatever q says: the bound is d then
    r = http.post("/v1/sessions", json={"dim": DIM, "directions": Q + 1, "method": "adamm"})
    assert r.status_code == 201, r.text


def test_healthz_answers_while_the_largest_session_works(service, redis_client):
    svc, http = service
    probe = subprocess.Popen([sys.executable, str(Path(__file__).with_name("healthz_probe.py")), svc.url,
                              str(POLL_S)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    calls: dict[str, list[tuple[float, float]]] = {}  # per call, each round's (sent, answered)

    def timed(name: str, send, *args):
        started = time.monotonic()
        answer = send(*args)
        calls.setdefault(name, []).append((started, time.monotonic()))
        return answer

    try:
        assert probe.stdout.readline() == "polling\n"
        x0 = np.linspace(-1, 1, DIM, dtype=np.float32)
        for _ in range(ROUNDS):
            r = timed("create", frame_post, http, "/v1/sessions", {"dim": DIM, "directions": Q, "lr": 0.01},
                      {"x0": x0})
            assert r.status_code == 201, r.text
            sid = wire.decode(r.content)[0]["id"]
            r = timed("ask", frame_post, http, f"/v1/sessions/{sid}/ask?vectors=true", {})
            assert r.status_code == 200, r.text
            _, vectors = wire.decode(r.content)
            assert vectors["u"].size == Q * DIM
            values = {"step": 0, "f_x": 1.0, "f_plus": [1.5, 0.5, 1.0, 2.0] * (Q // 4)}
            r = timed("tell", frame_post, http, f"/v1/sessions/{sid}/tell", values)
            assert r.status_code == 200, r.text  # checkpoint_every = 1: this step also writes a checkpoint
            assert wire.decode(r.content)[0]["step"] == 1
            assert timed("delete", http.delete, f"/v1/sessions/{sid}").status_code == 204
    finally:
        out, _ = probe.communicate("", timeout=120)
    answers = json.loads(out)
    assert {status for *_, status in answers} == {200}
    assert len(answers) >= 5, "the probe must have polled while the work ran"
    # Times measured in one run, compared with each other (the machine's load slows both): a
    # call that held the event loop would hold a /healthz sent meanwhile for about as long as
    # itself, in every round, since the rounds do the same work.  A round whose /healthz waited
    # on something else (the cores taken by other processes, a copy that holds the GIL) is not
    # evidence of that: each call must, in at least one of its long rounds, have let every
    # /healthz sent meanwhile through in well under half of its own time.
    checked = {name: [(start, end) for start, end in rounds if end - start >= CHECKED_S]
               for name, rounds in calls.items()}
    checked = {name: rounds for name, rounds in checked.items() if rounds}
    assert checked, calls  # at d = 2M, the create, ask and tell each take longer than that
    for name, rounds in checked.items():
        stalls = []
        for start, end in rounds:
            meanwhile = [latency for sent, latency, _ in answers if sent < end and sent + latency > start]
            assert meanwhile, f"no /healthz was answered during the {name}"
            stalls.append(max(meanwhile) / (end - start))
        assert min(stalls) < 0.5, (name, rounds, stalls)
    assert redis_client.keys("*:staged:*") == []  # every staged checkpoint was taken or dropped
