"""Every call, the per-step tell included, passes through the app's whole middleware stack and
its router: what a middleware added by the next feature (auth, limits, metrics) relies on."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from service_support import FRAME, objective, reference, x0_for, zo_values
from starlette.middleware import Middleware

from zoadamm import wire
from zoadamm_service.api.lean_route import LeanApp, LeanLane, LeanRoute, with_asgi

DIM = 6


class Recorder:
    """A pure ASGI middleware that notes each HTTP call and the route template it reached."""

    def __init__(self, app, seen: list) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {}

        async def noting(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, noting)
        route = scope.get("route")
        self.seen.append((scope["method"], getattr(route, "path", scope["path"]), status.get("code")))


def test_every_call_passes_the_innermost_and_the_outermost_middleware(make_app, serve):
    inner, outer = [], []
    app = make_app()
    app.user_middleware.append(Middleware(Recorder, seen=inner))  # innermost: just outside the router
    app.add_middleware(Recorder, seen=outer)  # outermost of the user middleware
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    with serve(app) as client:
        made = client.post("/v1/sessions", json={"dim": DIM, "x0": x0.tolist(), "seed": 3})
        sid = made.json()["id"]
        opt = reference(made.json(), x0)
        calls = [
            ("GET", "/v1/sessions", client.get("/v1/sessions")),
            ("GET", "/v1/sessions/{session_id}", client.get(f"/v1/sessions/{sid}")),
            ("POST", "/v1/sessions/{session_id}/ask", client.post(f"/v1/sessions/{sid}/ask", json={})),
            ("POST", "/v1/sessions/{session_id}/tell",
             client.post(f"/v1/sessions/{sid}/tell", json=zo_values(opt, f))),
        ]
        opt.apply(opt.zo_record(**{k: v for k, v in zo_values(opt, f).items() if k != "step"}))
        frame = wire.encode(zo_values(opt, f))
        calls += [
            ("POST", "/v1/sessions/{session_id}/tell", client.post(
                f"/v1/sessions/{sid}/tell", content=frame, params={"answer": "checksum"},
                headers={"content-type": FRAME, "accept": FRAME})),
            ("POST", "/v1/sessions/{session_id}/tell",  # a refused tell goes the same way
             client.post(f"/v1/sessions/{sid}/tell", json={"step": 0, "f_x": 1.0, "f_plus": [2.0]})),
            ("POST", "/v1/sessions/{session_id}/metrics",
             client.post(f"/v1/sessions/{sid}/metrics", json={"value": 1.0})),
            ("GET", "/v1/sessions/{session_id}/metrics", client.get(f"/v1/sessions/{sid}/metrics")),
            ("GET", "/v1/sessions/{session_id}/x", client.get(f"/v1/sessions/{sid}/x")),
            ("DELETE", "/v1/sessions/{session_id}", client.delete(f"/v1/sessions/{sid}")),
            ("GET", "/healthz", client.get("/healthz")),
        ]
    expected = [("POST", "/v1/sessions", 201)] + [(m, path, r.status_code) for m, path, r in calls]
    assert [r.status_code for _, _, r in calls][3:6] == [200, 200, 409]
    assert inner == expected
    assert outer == expected


def test_a_lean_route_still_runs_a_router_dependency():
    """The tell skips dependency injection only while there is nothing to inject: a dependency
    on its router (auth, say) brings FastAPI's standard handler back."""
    checked = []

    async def check(request: Request) -> None:
        checked.append(request.url.path)

    async def endpoint(request: Request, item: str) -> JSONResponse:
        return JSONResponse({"item": item, "query": request.query_params.get("q")})

    guarded, open_ = APIRouter(dependencies=[Depends(check)]), APIRouter()
    for router, prefix in ((guarded, "/guarded"), (open_, "/open")):
        router.add_api_route(prefix + "/{item}", endpoint, methods=["POST"], route_class_override=LeanRoute)
    app = FastAPI()
    app.include_router(guarded)
    app.include_router(open_)
    with TestClient(app) as client:
        assert client.post("/guarded/a?q=1").json() == {"item": "a", "query": "1"}
        assert client.post("/open/b").json() == {"item": "b", "query": None}
    assert checked == ["/guarded/a"]


class Counting:
    """Forwards to ``app`` and notes the path of each HTTP call that reaches it."""

    def __init__(self, app, reached: list) -> None:
        self.app = app
        self.reached = reached

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.reached.append(scope["path"])
        await self.app(scope, receive, send)


def _lane(app):
    """The app's ``LeanLane``, found down the built middleware stack."""
    layer = app.middleware_stack
    while not isinstance(layer, LeanLane):
        layer = layer.app
    return layer


def test_a_tell_takes_the_lane_past_the_router_and_its_errors_answer_as_before(make_app, serve):
    """The tell's twin is called straight from the innermost middleware; every other call, and a
    tell's refusal, answer as through the router."""
    app = make_app()
    reached: list[str] = []
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    with serve(app) as client:
        made = client.post("/v1/sessions", json={"dim": DIM, "x0": x0.tolist(), "seed": 3}).json()
        lane = _lane(app)
        lane.app = Counting(lane.app, reached)
        opt = reference(made, x0)
        told = client.post(f"/v1/sessions/{made['id']}/tell", json=zo_values(opt, f))
        stale = client.post(f"/v1/sessions/{made['id']}/tell", json={"step": 0, "f_x": 1.0, "f_plus": [2.0]})
        missing = client.post("/v1/sessions/nope/tell", json={"step": 0, "f_x": 1.0, "f_plus": [2.0]})
        asked = client.post(f"/v1/sessions/{made['id']}/ask", json={})
        wrong_method = client.get(f"/v1/sessions/{made['id']}/tell")
    assert told.status_code == 200 and told.json()["step"] == 1
    assert stale.status_code == 409 and "step" in stale.json()["detail"]
    assert missing.status_code == 404 and missing.json()["detail"]
    assert asked.status_code == 200
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["allow"]
    assert reached == [f"/v1/sessions/{made['id']}/ask", f"/v1/sessions/{made['id']}/tell"]  # the ask, the GET


def test_a_lean_route_behind_a_prefixed_include_is_left_to_the_router():
    """The lane matches a route's own path: a route that an include moves under a prefix is
    served at that prefix, by the router, and not at its own path."""
    async def endpoint(request: Request, item: str) -> JSONResponse:
        return JSONResponse({"item": item})

    async def twin(scope, receive, send):
        await JSONResponse({"twin": scope["path_params"]["item"]})(scope, receive, send)

    router = APIRouter()
    router.add_api_route("/items/{item}", with_asgi(endpoint, twin), methods=["POST"], route_class_override=LeanRoute)
    app = LeanApp()
    app.include_router(router, prefix="/v2")
    with TestClient(app) as client:
        assert client.post("/v2/items/a").json() == {"twin": "a"}
        assert client.post("/items/a").status_code == 404
    assert _lane(app).lanes == []


def test_a_client_that_hangs_up_mid_body_is_no_error(make_app, caplog):
    """A client that goes away before its body arrived (a timeout, a cancelled call) was logged as
    an unexpected error with a traceback, on every route: now one info line, and nothing sent."""
    import asyncio
    import logging

    app = make_app()
    sent: list[dict] = []

    async def hang_up() -> None:
        async def receive():
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        async with app.router.lifespan_context(app):
            # a path is the client's text: a line break in it (%0a) must not forge a log line
            for path in ("/v1/sessions", "/v1/sessions/" + "0" * 32 + "/tell", "/v1/sessions/\nERROR:forged/tell"):
                scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
                         "query_string": b"", "headers": [(b"content-type", b"application/json"),
                                                          (b"content-length", b"100")],
                         "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
                         "client": ("127.0.0.1", 1), "root_path": "", "state": {}}
                await app(scope, receive, send)

    with caplog.at_level(logging.INFO, logger="zoadamm.service"):
        asyncio.run(hang_up())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert caplog.text.count("the client left before POST") == 3
    assert all("\n" not in record.getMessage() for record in caplog.records)
    assert sent == []
