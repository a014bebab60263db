"""Hostile numbers and sizes: every limit is a setting checked before any work, types are strict,
and no request can leave a session's state non-finite.  Both stores (memory and Redis)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from service_support import FRAME, create, tell

from zoadamm import directions, wire


def test_each_limit_is_a_setting_checked_before_any_work(make_app, serve):
    limits = dict(max_directions=8, max_dim=100, max_metric_names=3, max_metric_name_length=10,
                  metric_history=4, recent_metrics=10, recent_metrics_bytes=400, max_json_bytes=4096)
    with serve(make_app(**limits)) as c:
        for body, where in [({"dim": 101}, "ZOADAMM_MAX_DIM"), ({"dim": 1, "directions": 9}, "ZOADAMM_MAX_DIRECTIONS"),
                            ({"dim": 10**40}, "less than or equal"), ({"dim": 1, "directions": 10**9}, "")]:
            r = c.post("/v1/sessions", json=body)
            assert r.status_code == 422 and where in r.text, r.text
        assert c.get("/v1/sessions").json()["total"] == 0  # nothing was created
        sid = create(c, dim=100, directions=8, x0=[0.0] * 100)["id"]  # the largest allowed
        big = {"value": 1.0, "metrics": {f"m{i}": 1.0 for i in range(4)}}
        r = c.post(f"/v1/sessions/{sid}/metrics", json=big)
        assert r.status_code == 422 and "ZOADAMM_MAX_METRIC_NAMES" in r.text
        r = c.post(f"/v1/sessions/{sid}/metrics", json={"value": 1.0, "metrics": {"x" * 11: 1.0}})
        assert r.status_code == 422 and "ZOADAMM_MAX_METRIC_NAME_LENGTH" in r.text
        assert c.get(f"/v1/sessions/{sid}/metrics").json()["items"] == []
        for i in range(6):
            r = c.post(f"/v1/sessions/{sid}/metrics", json={"value": float(i), "metrics": {"abcdefghij": 1.0}})
            assert r.status_code == 200, r.text
        history = c.get(f"/v1/sessions/{sid}/metrics").json()["items"]
        assert [m["value"] for m in history] == [2.0, 3.0, 4.0, 5.0]  # the newest metric_history kept
        recent = c.get(f"/v1/sessions/{sid}").json()["recent_metrics"]
        assert recent == history[-len(recent):] and 0 < len(recent) < 4 and len(json.dumps(recent)) <= 400
        # JSON bodies are bounded apart from the body limit: big vectors travel in the frame
        r = c.post("/v1/sessions", json={"dim": 100, "x0": [0.123456789012345] * 100, "name": "n" * 3000})
        assert r.status_code == 413 and "ZOADAMM_MAX_JSON_BYTES" in r.text
        r = c.post("/v1/sessions", content=wire.encode({"dim": 100}, {"x0": np.zeros(100, np.float32)}),
                   headers={"Content-Type": FRAME})
        assert r.status_code == 201


def test_types_are_strict_as_the_schema_says(client):
    for body in [{"dim": True}, {"dim": 3, "seed": False}, {"dim": "3"}, {"dim": 3.5}, {"dim": 3, "lr": "0.1"},
                 {"dim": 2, "x0": ["1", "2"]}, {"dim": 2, "x0": [1, True]}, {"dim": 3, "seed": 2**53},
                 {"dim": 3, "schedule": {"patience": True}}]:
        r = client.post("/v1/sessions", json=body)
        assert r.status_code == 422, (body, r.text)
    # JSON Schema's integer is a number without a fraction: 3.0 is the integer 3
    assert create(client, dim=3.0)["config"]["dim"] == 3
    sid = create(client, dim=2, x0=[1, 2.5], seed=2**53 - 1)["id"]  # integers are numbers; the largest seed
    assert client.get(f"/v1/sessions/{sid}").json()["config"]["seed"] == 2**53 - 1
    u = directions(2**53 - 1, 0, 1, 2, "sphere")[0]
    for values in [{"step": True, "f_x": 1.0, "f_plus": [1.0]}, {"step": 0, "f_x": "1", "f_plus": [1.0]},
                   {"step": 0, "f_x": 1.0, "f_plus": [False]}, {"step": 0.5, "f_x": 1.0, "f_plus": [1.0]},
                   {"step": 2**53, "f_x": 1.0, "f_plus": [1.0]}]:
        tell(client, sid, values, expect=422)
    assert tell(client, sid, {"step": 0, "f_x": 1, "f_plus": [float(u[0])]})["step"] == 1


def test_a_stored_session_with_a_seed_beyond_2_53_stays_readable(make_app, serve):
    """Sessions created before the 2^53 bound keep working (their seed is below 2^64)."""
    from zoadamm import Optimizer, SessionConfig
    from zoadamm_service.domain import journal
    from zoadamm_service.store import SessionMeta

    app = make_app()
    with serve(app) as c:
        config = SessionConfig(dim=3, seed=2**64 - 3)
        sid = "0123456789abcdef" * 2  # a stored session, as made before the bound
        meta = SessionMeta(sid, "open", None, config.to_dict(), 0.0)
        checkpoint = journal.encode_checkpoint(Optimizer.start(config, np.zeros(3, np.float32)), 0)
        c.portal.call(app.state.sessions.store.create, meta, checkpoint)  # on the app's own event loop
        assert c.get(f"/v1/sessions/{sid}").json()["config"]["seed"] == 2**64 - 3
        assert c.post(f"/v1/sessions/{sid}/ask", json={}).json()["seed"] == 2**64 - 3


@pytest.mark.parametrize("config", [{"lr": 1e308}, {"eps": 1e-300}, {"eps": 0.0}, {"mu": 1e-300},
                                    {"schedule": {"min_lr": 1e308}}, {"lr": 1e3 * 1.0001}])
def test_configurations_that_could_go_non_finite_are_refused(client, config):
    r = client.post("/v1/sessions", json={"dim": 1, "x0": [0.0], **config})
    assert r.status_code == 422, r.text


def test_a_step_that_would_overflow_is_refused_before_it_is_journaled(client):
    """x at float32's limit, and a step (bounded lr, eps) that would carry it past: 422, the
    session unchanged, and it keeps working."""
    edge = float(np.finfo(np.float32).max)
    sid = create(client, dim=1, method="adamm", lr=1e3, eps=1e-12, beta2=0.0, normalizer="v", x0=[edge])["id"]
    # step 0: m becomes negative, so dividing it by a vanishing sqrt(v) pushes x up
    first = tell(client, sid, {"step": 0, "gradient": [-1e18]})
    assert np.isfinite(first["x"]).all()
    before = client.get(f"/v1/sessions/{sid}/x").json()
    r = client.post(f"/v1/sessions/{sid}/tell", json={"step": 1, "gradient": [0.0]})  # x would be +inf
    assert r.status_code == 422 and "float32" in r.text
    assert client.get(f"/v1/sessions/{sid}/x").json() == before
    assert client.get(f"/v1/sessions/{sid}").json()["step"] == 1
    after = tell(client, sid, {"step": 1, "gradient": [1e18]})  # other values for the same step
    assert after["step"] == 2 and np.isfinite(after["x"]).all()
    assert np.isfinite(client.get(f"/v1/sessions/{sid}/x").json()["x"]).all()
    assert client.post(f"/v1/sessions/{sid}/metrics", json={"value": 1.0}).status_code == 200
