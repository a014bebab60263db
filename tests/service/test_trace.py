"""The per-step trace, through the API and the SDK, on both stores: each point must equal
what the in-process optimizer computes for that step."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest
from service_support import FRAME, apply_zo, create, objective, reference, tell, x0_for, zo_values

from zoadamm import AsyncClient, Client, directions, wire

DIM = 6


def run_zo(client, steps: int, **config):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    s = create(client, dim=DIM, x0=x0, lr=0.05, **config)
    opt = reference(s, x0)
    expected = []
    for _ in range(steps):
        values = zo_values(opt, f)
        record = opt.zo_record(values.get("f_x"), values["f_plus"], values.get("f_minus"))
        expected.append((values, record.coefficients.astype(np.float64), opt.lr, opt.mu))
        tell(client, s["id"], values)
        apply_zo(opt, values)
    return s, expected


def test_zo_points_hold_f_gradient_norm_spread_lr_and_mu(client):
    s, expected = run_zo(client, 5, directions=3, seed=11)
    body = client.get(f"/v1/sessions/{s['id']}/trace").json()
    assert body["step"] == [0, 1, 2, 3, 4] and body["stride"] == 1
    assert body["time"] == sorted(body["time"])
    for i, (values, c, lr, mu) in enumerate(expected):
        assert body["f"][i] == float(np.float32(values["f_x"]))
        assert body["g_norm"][i] == float(np.float32(math.sqrt(c @ c)))
        assert body["spread"][i] == float(np.float32(c.std()))
        assert (body["lr"][i], body["mu"][i]) == (float(np.float32(lr)), float(np.float32(mu)))
    assert body["last"]["step"] == 4 and body["last"]["f"] == body["f"][-1]


def test_for_one_sphere_direction_the_norm_is_exact(client):
    s, expected = run_zo(client, 3, directions=1, seed=5)
    body = client.get(f"/v1/sessions/{s['id']}/trace").json()
    for step, (_, c, _, _) in enumerate(expected):
        u = directions(s["config"]["seed"], step, 1, DIM, "sphere")
        g = (c[:, None] * u.astype(np.float64)).sum(axis=0)
        assert body["g_norm"][step] == pytest.approx(np.linalg.norm(g), rel=1e-6)
        assert body["spread"][step] == 0.0


def test_central_gaussian_points(client):
    s, expected = run_zo(client, 3, directions=2, seed=3, difference="central", distribution="gaussian")
    body = client.get(f"/v1/sessions/{s['id']}/trace").json()
    for i, (values, c, _, _) in enumerate(expected):
        f = (np.mean(values["f_plus"]) + np.mean(values["f_minus"])) / 2
        assert body["f"][i] == float(np.float32(f))
        assert body["g_norm"][i] == float(np.float32(math.sqrt(DIM * (c @ c))))


def test_fo_points_hold_the_gradient_norm(client):
    _, grad = objective(DIM)
    x0 = x0_for(DIM)
    s = create(client, dim=DIM, x0=x0, method="adamm", lr=0.05)
    opt = reference(s, x0)
    norms = []
    for step in range(3):
        g = grad(opt.state.x).astype(np.float32)
        norms.append(float(np.float32(math.sqrt(float(np.dot(g, g))))))
        tell(client, s["id"], {"step": step, "gradient": g.tolist()})
        opt.apply(opt.fo_record(g))
    body = client.get(f"/v1/sessions/{s['id']}/trace").json()
    assert body["g_norm"] == norms
    assert body["f"] == [None] * 3 and body["spread"] == [None] * 3


def test_since_frame_repeat_and_not_found(client):
    s, expected = run_zo(client, 4, directions=2, seed=9)
    sid = s["id"]
    tell(client, sid, expected[-1][0])  # a repeated tell is no new step
    body = client.get(f"/v1/sessions/{sid}/trace", params={"since": 2}).json()
    assert body["step"] == [2, 3]
    r = client.get(f"/v1/sessions/{sid}/trace", params={"since": 2}, headers={"Accept": FRAME})
    assert r.headers["content-type"].startswith(FRAME)
    fields, vectors = wire.decode(r.content)
    assert fields["step"] == [2, 3] and fields["time"] == body["time"]
    for name in ("f", "g_norm", "spread", "lr", "mu"):
        assert vectors[name].tolist() == body[name]
    assert client.get("/v1/sessions/nope/trace").status_code == 404
    assert client.get(f"/v1/sessions/{sid}/trace", params={"since": -1}).status_code == 422


def test_a_full_trace_is_downsampled(make_app, serve):
    with serve(make_app(trace_points=4)) as client:
        s, _ = run_zo(client, 9, directions=1, seed=2)
        body = client.get(f"/v1/sessions/{s['id']}/trace").json()
    assert body["stride"] == 4 and body["step"] == [0, 4, 8] and body["last"]["step"] == 8


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_sdk_trace(make_app, serve, binary):
    f, _ = objective(DIM)
    with serve(make_app()) as test_client:
        sdk = Client(http_client=test_client, binary=binary)
        s = sdk.sessions.create(DIM, x0=x0_for(DIM), directions=2, seed=1, lr=0.05)
        x = x0_for(DIM)
        for step in range(3):
            info = sdk.sessions.ask(s.id)
            u = directions(info.seed, info.step, info.directions, DIM, info.distribution)
            answer = sdk.sessions.tell(s.id, step, f_x=f(x), f_plus=[f(x + np.float32(info.mu) * ui) for ui in u])
            x = answer.x
        t = sdk.sessions.trace(s.id)
        assert len(t) == 3 and t.step.tolist() == [0, 1, 2] and t.stride == 1
        assert t.f.dtype == np.float32 and np.all(np.isfinite(t.g_norm))
        assert sdk.sessions.trace(s.id, since=2).step.tolist() == [2]
        assert sdk.sessions.trace(s.id, tail=1).last["step"] == 2


def test_async_sdk_trace():
    import anyio

    from zoadamm_service.main import create_app
    from zoadamm_service.settings import Settings

    async def main():
        app = create_app(Settings(redis_url=None))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        async with AsyncClient(http_client=http) as sdk:
            s = await sdk.sessions.create(DIM, x0=x0_for(DIM), method="adamm")
            await sdk.sessions.tell(s.id, 0, gradient=np.ones(DIM, np.float32))
            return await sdk.sessions.trace(s.id)

    t = anyio.run(main)
    assert t.step.tolist() == [0] and t.g_norm[0] == np.float32(math.sqrt(DIM)) and np.isnan(t.f[0])


@pytest.mark.parametrize("since", [0, 2, 5, 99])
def test_the_dashboards_session_view_holds_the_same_trace_from_since_on(client, since):
    s, _ = run_zo(client, 5, directions=2, seed=7)
    trace = client.get(f"/v1/sessions/{s['id']}/trace", params={"since": since}).json()
    view = client.get(f"/v1/dashboard/sessions/{s['id']}", params={"since": since}).json()
    assert view["trace"] == {k: trace[k] for k in ("step", "time", "f", "g_norm", "spread", "lr", "mu")}
    assert view["trace"]["step"] == list(range(since, 5)) and view["last"] == trace["last"]
    assert view["metrics"] == [] and view["end_cursor"] == 0


def test_the_dashboards_row_shows_the_lr_and_mu_a_report_since_the_newest_step_set(make_app, serve):
    """A report after the newest step that makes the schedule cut lr and mu: the table's row
    showed the newest step's lr and mu, where the session and the SDK had the cut ones."""
    with serve(make_app(dashboard_cache_s=0.0)) as client:  # every read of the table loads it anew
        _row_after_a_report(client)


def _row_after_a_report(client) -> None:
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    s = create(client, dim=DIM, x0=x0, lr=0.05, directions=2, seed=7, schedule={"factor": 0.5, "patience": 0})
    opt = reference(s, x0)
    for _ in range(3):
        values = zo_values(opt, f)
        tell(client, s["id"], values)
        apply_zo(opt, values)

    def row() -> dict:
        return next(r for r in client.get("/v1/dashboard/sessions").json()["sessions"] if r["id"] == s["id"])

    for value in (1.0, 2.0):  # the second is no better: lr and mu are halved
        assert client.post(f"/v1/sessions/{s['id']}/metrics", json={"value": value}).status_code == 200
    session = client.get(f"/v1/sessions/{s['id']}").json()
    assert session["lr"] == 0.025 and (row()["lr"], row()["mu"]) == (session["lr"], session["mu"])
    tell(client, s["id"], zo_values(opt, f))  # a step after the report: the row reads it again
    trace = client.get(f"/v1/sessions/{s['id']}/trace").json()
    assert row()["step"] == 4 and (row()["lr"], row()["mu"]) == (trace["lr"][-1], trace["mu"][-1])
    assert (trace["lr"][-1], trace["mu"][-1]) == (float(np.float32(session["lr"])), float(np.float32(session["mu"])))
