"""Real HTTP against the ``zoadamm-service`` console script, on a Redis of its own that
persists every write (appendonly, appendfsync always).  Both get killed and restarted; what
was acknowledged must survive, and the API must say so through /healthz while Redis is gone.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
from fastapi.routing import APIRoute
from service_support import FRAME, apply_zo, bits, objective, reference, x0_for, zo_values

from zoadamm import wire
from zoadamm_service import keys
from zoadamm_service.launch import ServiceProcess, free_port
from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings

DIM = 6
# Only a guard against a child that never comes up; nothing here measures time.
STARTUP_GUARD_S = 120


class Child:
    """A child process, ready once ``ready_line`` appears on its output (read on a thread,
    which keeps draining the pipe so the child never blocks on it)."""

    def __init__(self, argv: list[str], ready_line: str):
        self.proc = subprocess.Popen(argv, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, args=(self.proc.stdout, ready_line), daemon=True).start()
        self._ready.wait(STARTUP_GUARD_S)
        if self.proc.poll() is not None or not any(ready_line in line for line in self.lines):
            self.stop()
            raise AssertionError(f"{argv[0]} did not start:\n" + "".join(self.lines[-30:]))

    def _read(self, pipe, ready_line: str) -> None:
        for line in pipe:
            self.lines.append(line)
            if ready_line in line:
                self._ready.set()
        self._ready.set()  # EOF: the child is gone

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_redis(port: int, directory: Path) -> Child:
    argv = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "yes", "--appendfsync", "always", "--dir", str(directory), "--logfile", "",
    ]
    return Child(argv, "Ready to accept connections")




@pytest.fixture
def stack(tmp_path):
    """Redis (own port, own directory) and the service on it; both restartable."""
    children: list[Child | ServiceProcess] = []
    state = {"redis_port": free_port(), "dir": tmp_path}
    state["redis_url"] = f"redis://127.0.0.1:{state['redis_port']}/0"

    def redis_up() -> Child:
        child = start_redis(state["redis_port"], tmp_path)
        children.append(child)
        return child

    def service_up() -> tuple[ServiceProcess, httpx.Client]:
        child = ServiceProcess(state["redis_url"], log_level="info")
        url = child.start()
        children.append(child)
        return child, httpx.Client(base_url=url, timeout=60)

    state["redis_up"], state["service_up"] = redis_up, service_up
    yield state
    for child in reversed(children):
        child.stop()


def tell(http: httpx.Client, sid: str, values: dict, **params) -> dict:
    r = http.post(f"/v1/sessions/{sid}/tell", json=values, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def x_of(http: httpx.Client, sid: str) -> tuple[int, np.ndarray]:
    r = http.get(f"/v1/sessions/{sid}/x", headers={"Accept": FRAME})
    assert r.status_code == 200, r.text
    fields, vectors = wire.decode(r.content)
    return fields["step"], vectors["x"].copy()


def test_kill_and_restart_the_service_and_redis(stack):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    db = stack["redis_up"]()
    service, http = stack["service_up"]()
    assert http.get("/healthz").status_code == 200

    r = http.post("/v1/sessions", content=wire.encode({"dim": DIM, "directions": 2, "lr": 0.05}, {"x0": x0}),
                  headers={"Content-Type": FRAME})
    assert r.status_code == 201, r.text
    session = r.json()
    sid, opt = session["id"], reference(session, x0)
    for _ in range(3):
        values = zo_values(opt, f)
        last = tell(http, sid, values)
        apply_zo(opt, values)
        assert bits(np.array(last["x"], np.float32)) == bits(opt.state.x)
    metric = http.post(f"/v1/sessions/{sid}/metrics", json={"value": 1.25}).json()

    # kill -9 the service: nothing was flushed on the way out, and nothing needed to be
    service.kill()
    service, http = stack["service_up"]()
    step, x = x_of(http, sid)
    assert step == 3 and bits(x) == bits(opt.state.x)
    assert tell(http, sid, values) == last  # a retry of the last tell, in another process
    assert http.get(f"/v1/sessions/{sid}/metrics").json()["items"] == [metric]
    values = zo_values(opt, f)
    acknowledged = tell(http, sid, values, answer="checksum")
    apply_zo(opt, values)
    assert acknowledged["step"] == 4

    # Redis goes away: the service says so, and answers 503 rather than 500
    redis.Redis(port=stack["redis_port"]).shutdown()  # no RDB save: it comes back from the AOF
    db.proc.wait()
    r = http.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "unavailable"
    assert http.get(f"/v1/sessions/{sid}/x").status_code == 503
    r = http.post(f"/v1/sessions/{sid}/tell", json=zo_values(opt, f))
    assert r.status_code == 503, r.text

    # Redis comes back from its append-only file: every acknowledged step is there
    db = stack["redis_up"]()
    assert http.get("/healthz").status_code == 200
    step, x = x_of(http, sid)
    assert step == 4 and bits(x) == bits(opt.state.x)
    view = http.get(f"/v1/sessions/{sid}").json()
    assert (view["step"], view["lr"], view["mu"]) == (opt.step, opt.lr, opt.mu)
    assert tell(http, sid, values, answer="checksum") == acknowledged

    # even when Redis is killed: each step was in its append-only file before it was answered
    values = zo_values(opt, f)
    acknowledged = tell(http, sid, values)
    apply_zo(opt, values)
    db.kill()
    assert http.get("/healthz").status_code == 503
    stack["redis_up"]()
    assert http.get("/healthz").status_code == 200
    # what Redis holds, read directly: 5 steps and 1 metric (a lost step would be re-applied
    # by a retry below without anyone noticing, so this looks at the journal itself)
    head = redis.Redis(port=stack["redis_port"]).hget(keys.meta(sid), "head")
    assert int(head) == 6
    step, x = x_of(http, sid)
    assert step == 5 and bits(x) == bits(opt.state.x)
    assert tell(http, sid, values) == acknowledged

    # and a fresh service process on the restarted Redis agrees, and goes on
    service.kill()
    service, http = stack["service_up"]()
    step, x = x_of(http, sid)
    assert step == 5 and bits(x) == bits(opt.state.x)
    values = zo_values(opt, f)
    answer = tell(http, sid, values)
    apply_zo(opt, values)
    assert answer["step"] == 6 and bits(np.array(answer["x"], np.float32)) == bits(opt.state.x)
    assert [s["id"] for s in http.get("/v1/sessions").json()["sessions"]] == [sid]


def api_routes(routes):
    """Every APIRoute of an app, also inside included routers (newer FastAPI nests them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def test_docs_and_openapi_describe_every_route(stack):
    stack["redis_up"]()
    _, http = stack["service_up"]()
    docs = http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = http.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    routes = [r for r in api_routes(create_app(Settings(redis_url=None)).routes) if r.include_in_schema]
    assert len(routes) >= 10
    for route in routes:
        assert route.path in paths, route.path
        for method in route.methods:
            operation = paths[route.path][method.lower()]
            assert operation.get("description") or operation.get("summary"), (method, route.path)
    for path, methods in paths.items():
        for method, operation in methods.items():
            if method == "post":  # bodies are documented in both encodings
                content = operation["requestBody"]["content"]
                assert {"application/json", FRAME} <= set(content), path
    assert {"/healthz", "/v1/sessions/{session_id}/tell", "/v1/sessions/{session_id}/x"} <= set(paths)
