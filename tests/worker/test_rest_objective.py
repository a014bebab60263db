"""A user's HTTP endpoint as the objective: ``RestObjective`` and ``zoadamm-worker rest``.

End to end, the worker CLI, the ``zoadamm-service`` console script (on the tests' Redis) and a
tiny objective server each run as they do for users; the run must equal the same run computed
in this process with ``zoadamm.Optimizer``, bit for bit.  The retry and failure rules are tested
with ``httpx.MockTransport`` endpoints, and the session must never advance on a failed step.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from zoadamm import Ball, Box, Client, FeasibleSet, Optimizer, SessionConfig, directions, minimize
from zoadamm._validate import F32_MAX
from zoadamm_service.launch import local_service
from zoadamm_worker.rest_objective import EvaluationError, RestObjective

DIM = 10


def objective(dim: int = DIM):
    """A shifted quadratic with uneven curvature, evaluated in float64; its minimum is 0."""
    rng = np.random.default_rng(1234)
    target = rng.normal(size=dim)
    scale = rng.uniform(0.5, 3.0, size=dim)

    def f(x) -> float:
        d = np.asarray(x, dtype=np.float64) - target
        return float(np.sum(scale * d * d))

    return f


def reference(f, x0, steps: int, **config) -> Optimizer:
    """The run ``minimize`` makes, computed in this process."""
    opt = Optimizer.start(SessionConfig(dim=len(x0), **config), x0)
    cfg = opt.config
    for step in range(steps):
        x = opt.state.x
        u = directions(cfg.seed, step, cfg.directions, cfg.dim, cfg.distribution)
        opt.apply(opt.zo_record(f(x), [f(x + np.float32(opt.mu) * ui) for ui in u]))
    return opt


def bits(x) -> bytes:
    return np.ascontiguousarray(x, dtype=np.float32).tobytes()


# --- an objective served over real HTTP ---------------------------------------------------
class ObjectiveServer:
    """``POST {"x": [...]}`` -> ``{"value": f(x)}`` on a free loopback port, in a thread.
    After ``fail_after`` requests, every answer is a 500."""

    def __init__(self, f, fail_after: int | None = None) -> None:
        self.f, self.fail_after, self.requests = f, fail_after, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection for the whole run
            disable_nagle_algorithm = True  # headers and body leave as two writes: no 40 ms stall

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests += 1
                if server.fail_after is not None and server.requests > server.fail_after:
                    self._answer(500, {"detail": "the simulator crashed"})
                else:
                    self._answer(200, {"value": server.f(body["x"])})

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/f"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ObjectiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@pytest.fixture
def service_url(redis_url):
    """The ``zoadamm-service`` console script on the tests' Redis database; yields its URL."""
    with local_service(redis_url) as url:
        yield url


def _worker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_script("zoadamm-worker"), "rest", *args], capture_output=True, text=True)


def test_worker_cli_minimises_an_http_endpoint(service_url):
    f = objective()
    steps, lr, seed = 250, 0.05, 42
    with ObjectiveServer(f) as endpoint:
        done = _worker("--objective", endpoint.url, "--dim", str(DIM), "--steps", str(steps), "--lr", str(lr),
                       "--seed", str(seed), "--service", service_url, "--quiet")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert endpoint.requests == result["evaluations"] == 2 * steps + 1  # no retries were needed

    expected = reference(f, np.zeros(DIM, np.float32), steps, lr=lr, seed=seed)
    x = np.array(result["x"], dtype=np.float32)
    # 34.5 at x0 = 0 -> 3.7e-5 after 250 steps of 2 evaluations
    assert f(np.zeros(DIM)) > 30 and result["f"] < 1e-4 and result["f"] < 1e-5 * f(np.zeros(DIM))
    assert result["steps"] == steps
    assert bits(x) == bits(expected.state.x) and result["f"] == f(expected.state.x)
    with Client(service_url) as sdk:
        stored = sdk.sessions.parameters(result["session"])
    assert stored.step == steps and bits(stored.x) == bits(x)


@pytest.mark.parametrize("method,options,constraint", [
    ("zo-signsgd", ["--box", "-0.25", "0.5"], FeasibleSet(box=Box(-0.25, 0.5))),
    ("zo-adam", ["--lower", "-0.25", "--ball", "1.0", "--ball-center", "0.1"],
     FeasibleSet(box=Box(-0.25, F32_MAX), ball=Ball("2", 0.1, 1.0))),
    # -inf / inf: no bound on that side (of some coordinates, in a list), as minimize reads scipy's
    ("zo-sgd", ["--lower", "-inf", "--upper", json.dumps([0.5, float("inf")] * (DIM // 2))],
     FeasibleSet(box=Box(-F32_MAX, [0.5, F32_MAX] * (DIM // 2)))),
])
def test_worker_cli_runs_a_method_within_a_feasible_set(service_url, method, options, constraint):
    """--method and the set options make the session the in-process run has: same x, to the bit,
    and every step inside X."""
    f = objective()
    steps, lr, seed = 30, 0.05, 42
    with ObjectiveServer(f) as endpoint:
        done = _worker("--objective", endpoint.url, "--dim", str(DIM), "--steps", str(steps), "--lr", str(lr),
                       "--seed", str(seed), "--service", service_url, "--quiet", "--method", method, *options)
        assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = reference(f, np.zeros(DIM, np.float32), steps, lr=lr, seed=seed, method=method, constraint=constraint)
    assert bits(np.array(result["x"], np.float32)) == bits(expected.state.x)
    assert constraint.violation(expected.state.x) is None and result["f"] < f(np.zeros(DIM))
    with Client(service_url) as sdk:
        config = sdk.sessions.get(result["session"]).session_config()  # with its constraint's vectors
    assert config.method == method and config.constraint == constraint


def test_worker_cli_stops_on_a_failed_evaluation_without_telling_it(service_url):
    f = objective()
    seed, good_steps = 7, 5
    with ObjectiveServer(f, fail_after=2 * good_steps + 1) as endpoint:  # step 5's f(x + mu u) fails
        done = _worker("--objective", endpoint.url, "--dim", str(DIM), "--steps", "50", "--seed", str(seed),
                       "--retries", "1", "--service", service_url, "--quiet", "--name", "flaky")
        assert endpoint.requests == 2 * good_steps + 1 + 2  # the failed evaluation was tried twice
    assert done.returncode == 2 and done.stdout == ""
    assert "500" in done.stderr and "not told to the service" in done.stderr
    again = shlex.split(done.stderr.split("continue with: ", 1)[1])
    assert again[:2] == ["zoadamm-worker", "rest"] and again[-1] == "--resume"

    expected = reference(f, np.zeros(DIM, np.float32), good_steps, lr=1e-2, seed=seed)
    with Client(service_url) as sdk:
        (session,) = sdk.sessions.list()
        stored = sdk.sessions.parameters(session.id)
    assert stored.step == good_steps and bits(stored.x) == bits(expected.state.x)
    def run_again():  # the printed command, its objective fixed (on another port here)
        with ObjectiveServer(f) as endpoint:
            return _worker(*[endpoint.url if a.startswith("http://127.0.0.1") and a != service_url else a
                             for a in again[2:]])

    continued = run_again()
    assert continued.returncode == 0, continued.stderr
    assert json.loads(continued.stdout.strip().splitlines()[-1])["session"] == session.id
    # once more: the session is there already, said in the command's words (it said "steps=50")
    twice = run_again()
    assert twice.returncode == 0 and json.loads(twice.stdout.strip().splitlines()[-1])["steps"] == 50
    assert (f"session {session.id} is already at step 50, not below --steps 50: no step taken (give a larger "
            "--steps to go on)") in twice.stderr and "steps=" not in twice.stderr, twice.stderr


# --- retries and failures, with endpoints behind httpx.MockTransport ----------------------
@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff delays RestObjective slept (it does not really sleep)."""
    slept: list[float] = []
    monkeypatch.setattr("zoadamm_worker.rest_objective.time", types.SimpleNamespace(sleep=slept.append))
    return slept


def _endpoint(plan: list, f=None):
    """A MockTransport endpoint answering ``plan`` in order (a status, a raw body, an
    exception class, or None for f(x)), then f(x).  Returns (an httpx.Client of it, the
    requests it saw)."""
    seen: list[httpx.Request] = []
    f = f or objective()

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = plan.pop(0) if plan else None
        if step is not None:
            if isinstance(step, type):
                raise step("injected", request=request)
            if isinstance(step, int):
                return httpx.Response(step, json={"detail": "injected"})
            return httpx.Response(200, content=step, headers={"content-type": "application/json"})
        return httpx.Response(200, json={"value": f(json.loads(request.content)["x"])})

    http = httpx.Client(transport=httpx.MockTransport(handle))
    return http, seen


def test_transient_failures_are_retried_with_backoff(sleeps):
    f = objective()
    http, seen = _endpoint([503, httpx.ConnectError, 429, b'{"value": NaN}'], f)
    rest = RestObjective("http://objective/f", retries=4, backoff=0.5, http_client=http)
    x = np.linspace(-1, 1, DIM).astype(np.float32)
    assert rest(x) == f(x)
    assert len(seen) == 5 and rest.evaluations == 1
    assert json.loads(seen[0].content) == {"x": x.astype(np.float64).tolist()}
    for attempt, delay in enumerate(sleeps):  # jittered exponential backoff
        assert 0.5 * 0.5 * 2**attempt <= delay <= 0.5 * 2**attempt
    assert len(sleeps) == 4


@pytest.mark.parametrize("answer", [
    500, b'{"value": NaN}', b'{"value": Infinity}', b"<html>oops</html>", b'{"value": "1.5"}',
    b'{"value": true}', b'{"loss": 1.5}', b"[1.5]", httpx.ReadTimeout, b'{"value": 1' + b"0" * 400 + b"}",
], ids=["500", "nan", "inf", "not-json", "string", "bool", "no-value", "list", "timeout", "huge-int"])
def test_an_endpoint_that_keeps_failing_raises(sleeps, answer):
    http, seen = _endpoint([answer] * 3)
    rest = RestObjective("http://objective/f", retries=2, http_client=http)
    with pytest.raises(EvaluationError, match="3 attempts"):
        rest(np.zeros(DIM))
    assert len(seen) == 3 and len(sleeps) == 2 and rest.evaluations == 0


def test_one_attempt_is_said_so(sleeps):
    http, _ = _endpoint([500])
    with pytest.raises(EvaluationError, match='failed after 1 attempt: endpoint answered 500: {"detail":"injected"}'):
        RestObjective("http://objective/f", retries=0, http_client=http)(np.zeros(DIM))


@pytest.mark.parametrize("answer, message", [
    (b'{"f": 1.5}', r'no finite "value" \(expected \{"value": <number>\}\): \{"f": 1.5\}'),
    (b"1.5", r'no finite "value" \(expected \{"value": <number>\}\): 1.5'),
])
def test_an_answer_of_another_shape_says_the_shape_expected(sleeps, answer, message):
    http, _ = _endpoint([answer])
    with pytest.raises(EvaluationError, match=message):
        RestObjective("http://objective/f", retries=0, http_client=http)(np.zeros(DIM))


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_client_error_is_not_retried(sleeps, status):
    http, seen = _endpoint([status])
    rest = RestObjective("http://objective/f", retries=3, http_client=http)
    with pytest.raises(EvaluationError, match=str(status)):
        rest(np.zeros(DIM))
    assert len(seen) == 1 and sleeps == []


@pytest.mark.parametrize("failure", [500, b'{"value": NaN}', b"not json"], ids=["500", "nan", "not-json"])
def test_minimize_never_tells_a_failed_evaluation(serve, sleeps, failure):
    from zoadamm_service.main import create_app
    from zoadamm_service.settings import Settings

    f = objective()
    good_steps, seed = 6, 11
    # every evaluation up to step 6's f(x + mu u) succeeds; that one fails on every attempt
    http, seen = _endpoint([None] * (2 * good_steps + 1) + [failure] * 4, f)
    rest = RestObjective("http://objective/f", retries=3, http_client=http)
    with serve(create_app(Settings(redis_url=None))) as test_client:
        sdk = Client(http_client=test_client)
        with pytest.raises(EvaluationError):
            minimize(rest, np.zeros(DIM), steps=20, client=sdk, progress=False, seed=seed, lr=0.05)
        (session,) = sdk.sessions.list()
        stored = sdk.sessions.parameters(session.id)
    expected = reference(f, np.zeros(DIM, np.float32), good_steps, lr=0.05, seed=seed)
    assert stored.step == good_steps and bits(stored.x) == bits(expected.state.x)
    assert rest.evaluations == 2 * good_steps + 1 and len(sleeps) == 3
    assert len(seen) == 2 * good_steps + 1 + 4


def test_retry_after_from_the_endpoint_is_honoured(sleeps):
    f = objective()
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, headers={"retry-after": "2"})
        return httpx.Response(200, json={"value": f(json.loads(request.content)["x"])})

    rest = RestObjective("http://objective/f", retries=2, backoff=0.01,
                         http_client=httpx.Client(transport=httpx.MockTransport(handle)))
    assert rest(np.zeros(DIM)) == f(np.zeros(DIM))
    assert sleeps == [2.0]


def test_a_client_passed_in_stays_open():
    http, _ = _endpoint([])
    RestObjective("http://objective/f", http_client=http).close()
    assert not http.is_closed
    own = RestObjective("http://objective/f")
    own.close()
    assert own.http.is_closed


def test_an_objective_url_with_no_endpoint_says_to_check_it_not_to_run_it_again(service_url):
    """A mistyped --objective (404) was told "continue with:" the same command, wrong URL included."""
    wrong = f"{service_url}/no-such-objective"  # a server that answers 404 there
    done = _worker("--objective", wrong, "--dim", str(DIM), "--steps", "5", "--service", service_url, "--quiet")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (f"zoadamm-worker: {wrong} answered 404: no endpoint that evaluates x is there; "
                                   "check --objective")
