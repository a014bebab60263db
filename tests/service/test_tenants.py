"""Keys and tenants, tried as an attacker would, on both stores: every /v1 route of the published
description refuses a missing or unknown key (401), answers another tenant's session exactly as
a missing one (404), and leaves the victim's state as it was, bit for bit."""

from __future__ import annotations

import re

import numpy as np
import pytest
from service_support import FRAME, objective, reference, x0_for, zo_values

from zoadamm_service.tenants import entry

DIM = 5
KEYS = {"alice": "key-of-alice-0123456789", "mallory": "key-of-mallory-9876543210"}


@pytest.fixture
def keyed_app(make_app):
    # every route is tried with each wrong key: far more failures than ZOADAMM_AUTH_FAIL_LIMIT
    # allows one address (tests/service/test_auth_fail_limit.py tests that limit)
    return make_app(api_keys=",".join(entry(tenant, key) for tenant, key in KEYS.items()), auth_fail_limit=None)


def auth(tenant: str | None = None, key: str | None = None) -> dict:
    key = key if key is not None else KEYS[tenant] if tenant else None
    return {} if key is None else {"Authorization": f"Bearer {key}"}


def v1_routes(client) -> list[tuple[str, str]]:
    """(method, path template) of every /v1 route the service describes."""
    paths = client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, item in paths.items() if path.startswith("/v1")
            for method in item if method in ("get", "post", "put", "patch", "delete")]


def body_for(method: str, path: str) -> dict:
    if method != "POST":
        return {}
    if path.endswith("/tell"):
        return {"json": {"step": 2, "f_x": 1.0, "f_plus": [0.5]}}
    if path.endswith("/metrics"):
        return {"json": {"value": 0.1}}
    if path == "/v1/sessions":
        return {"json": {"dim": DIM}}
    return {"json": {}}


def victim_session(client) -> tuple[str, object]:
    """Alice's session after two steps and a metric report."""
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    made = client.post("/v1/sessions", json={"dim": DIM, "x0": x0.tolist(), "seed": 5, "name": "shared-name"},
                       headers=auth("alice"))
    assert made.status_code == 201, made.text
    session = made.json()
    opt = reference(session, x0)
    for _ in range(2):
        values = zo_values(opt, f)
        assert client.post(f"/v1/sessions/{session['id']}/tell", json=values, headers=auth("alice")).status_code == 200
        opt.apply(opt.zo_record(values["f_x"], values["f_plus"]))
    assert client.post(f"/v1/sessions/{session['id']}/metrics", json={"value": 1.0},
                       headers=auth("alice")).status_code == 200
    return session["id"], opt


def snapshot(client, sid: str) -> tuple:
    """Everything of the session that a call could change, as bytes."""
    headers = auth("alice")
    view = client.get(f"/v1/sessions/{sid}", headers=headers)
    x = client.get(f"/v1/sessions/{sid}/x", headers={**headers, "Accept": FRAME})
    metrics = client.get(f"/v1/sessions/{sid}/metrics", headers=headers)
    trace = client.get(f"/v1/sessions/{sid}/trace", headers={**headers, "Accept": FRAME})
    assert {view.status_code, x.status_code, metrics.status_code, trace.status_code} == {200}
    return view.content, x.content, metrics.content, trace.content


def concrete(path: str, sid: str) -> str:
    return re.sub(r"\{session_id\}", sid, path)


@pytest.mark.parametrize("presented", [None, "", "Basic YWxpY2U6eA==", "Bearer", "Bearer not-a-key",
                                        "Bearer " + KEYS["alice"] + "x", "bearer  " + "k" * 300])
def test_every_route_refuses_a_missing_malformed_or_unknown_key(keyed_app, serve, presented):
    with serve(keyed_app) as client:
        sid, _ = victim_session(client)
        before = snapshot(client, sid)
        routes = v1_routes(client)
        assert ("POST", "/v1/sessions/{session_id}/tell") in routes and len(routes) >= 10
        headers = {} if presented is None else {"Authorization": presented}
        for method, path in routes:
            r = client.request(method, concrete(path, sid), headers=headers, **body_for(method, path))
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["www-authenticate"].startswith("Bearer"), (method, path)
            assert KEYS["alice"] not in r.text
        assert snapshot(client, sid) == before
        assert client.get("/healthz").status_code == 200  # stays open


@pytest.mark.parametrize("second", [KEYS["alice"], "not-a-key"], ids=["the same key", "another"])
def test_two_authorization_headers_are_refused_as_two(keyed_app, serve, second):
    """A good key sent twice was told "send your API key as `Authorization: Bearer <key>`", what it did."""
    with serve(keyed_app) as client:
        sid, _ = victim_session(client)
        before = snapshot(client, sid)
        headers = [("Authorization", "Bearer " + KEYS["alice"]), ("Authorization", "Bearer " + second)]
        r = client.post(f"/v1/sessions/{sid}/metrics", json={"value": 2.0}, headers=headers)
        assert r.status_code == 401 and r.json()["detail"] == "send one Authorization header, not 2", r.text
        assert r.headers["www-authenticate"].startswith("Bearer") and KEYS["alice"] not in r.text
        assert snapshot(client, sid) == before


def test_another_tenants_session_is_missing_to_every_route(keyed_app, serve):
    with serve(keyed_app) as client:
        sid, opt = victim_session(client)
        before = snapshot(client, sid)
        missing = "f" * 32
        for method, path in v1_routes(client):
            if "{session_id}" not in path:
                continue
            theirs = client.request(method, concrete(path, sid), headers=auth("mallory"), **body_for(method, path))
            nobody = client.request(method, concrete(path, missing), headers=auth("mallory"),
                                    **body_for(method, path))
            assert theirs.status_code == nobody.status_code == 404, (method, path, theirs.text)
            assert theirs.json()["detail"].replace(sid, missing) == nobody.json()["detail"], (method, path)
        assert snapshot(client, sid) == before
        # the owner carries on where it was
        step, x = client.get(f"/v1/sessions/{sid}/x", headers=auth("alice")).json().values()
        assert step == 2 and np.array_equal(np.asarray(x, np.float32), opt.state.x)


def test_another_tenants_session_costs_the_store_what_an_unknown_id_costs(keyed_app, make_app, serve):
    """A session cached for its owner answered another tenant's 404 without the store, an unknown
    id with a read: the time told which ids exist.  Each now reads the store once, and the asking
    caches nothing of a session it does not own."""
    reads = []
    with serve(keyed_app) as client:
        sid, _ = victim_session(client)  # cached in this app for alice
        store = keyed_app.state.sessions.store
        meta = store.meta

        async def counted(session_id):
            reads.append(session_id)
            return await meta(session_id)

        store.meta = counted
        try:
            missing = "f" * 32
            for session_id in (sid, missing, sid, missing):
                assert client.get(f"/v1/sessions/{session_id}", headers=auth("mallory")).status_code == 404
            assert reads == [sid, missing, sid, missing]
        finally:
            del store.meta
    other = make_app(api_keys=",".join(entry(tenant, key) for tenant, key in KEYS.items()), auth_fail_limit=None)
    with serve(other) as client:
        assert client.get(f"/v1/sessions/{sid}", headers=auth("mallory")).status_code == 404
        assert sid not in other.state.sessions.replicas._replicas
        assert client.get(f"/v1/sessions/{sid}", headers=auth("alice")).status_code == 200


def test_each_tenant_lists_only_its_sessions_and_names_do_not_collide(keyed_app, serve):
    with serve(keyed_app) as client:
        sid, _ = victim_session(client)
        mine = client.post("/v1/sessions", json={"dim": DIM, "name": "shared-name"}, headers=auth("mallory"))
        assert mine.status_code == 201 and mine.json()["id"] != sid
        alice = client.get("/v1/sessions", headers=auth("alice")).json()
        mallory = client.get("/v1/sessions", headers=auth("mallory")).json()
        assert [s["id"] for s in alice["sessions"]] == [sid] and alice["total"] == 1
        assert [s["id"] for s in mallory["sessions"]] == [mine.json()["id"]] and mallory["total"] == 1
        table = client.get("/v1/dashboard/sessions", headers=auth("mallory")).json()["sessions"]
        assert [row["id"] for row in table] == [mine.json()["id"]]


ATTACKS = ["{sid}:events", "{sid}:checkpoint", "{sid}:metrics", "{sid}}}", "{{{sid}}}", "{sid}*", "*",
           "{sid}%3Aevents", "{sid}%3Acheckpoint", "%7B{sid}%7D", "{sid}" + "a" * 10_000, "{upper}"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_ids_that_are_not_ids_are_missing_and_reach_nothing(make_app, serve, attack):
    """Every store: the victim is intact when read from a second replica on the same Redis."""
    first = make_app()
    with serve(first) as client:
        sid, _ = victim_session_open(client)
        before = snapshot_open(client, sid)
        target = attack.format(sid=sid, upper=sid.upper())
        for method, path in v1_routes(client):
            if "{session_id}" in path:
                r = client.request(method, path.replace("{session_id}", target), **body_for(method, path))
                assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
        assert snapshot_open(client, sid) == before
    with serve(make_app()) as fresh:  # a second replica, reading the store anew
        assert snapshot_open(fresh, sid) == before


def victim_session_open(client):
    made = client.post("/v1/sessions", json={"dim": DIM, "x0": x0_for(DIM).tolist(), "seed": 5})
    sid = made.json()["id"]
    f, _ = objective(DIM)
    opt = reference(made.json(), x0_for(DIM))
    values = zo_values(opt, f)
    assert client.post(f"/v1/sessions/{sid}/tell", json=values).status_code == 200
    assert client.post(f"/v1/sessions/{sid}/metrics", json={"value": 1.0}).status_code == 200
    return sid, opt


def snapshot_open(client, sid: str) -> tuple:
    view = client.get(f"/v1/sessions/{sid}").json()
    view.pop("created")
    x = client.get(f"/v1/sessions/{sid}/x", headers={"Accept": FRAME}).content
    return view, x, client.get(f"/v1/sessions/{sid}/metrics").content
