"""A query parameter a call does not take is 422, as an unknown body field is, on every /v1
route of the published description; one sent twice is 422; the session is as it was."""

from __future__ import annotations

import pytest
from service_support import create, snapshot

DIM = 3


def routes(client) -> list[tuple[str, str, list[str]]]:
    """(method, path template, the query parameters it declares) of every /v1 route."""
    paths = client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path, [p["name"] for p in item[method].get("parameters", ()) if p["in"] == "query"])
            for path, item in paths.items() if path.startswith("/v1") for method in item]


def test_every_route_refuses_a_query_parameter_it_does_not_take(client):
    session = create(client, dim=DIM, x0=[0.0] * DIM)
    before = snapshot(client, session["id"])
    seen = 0
    for method, path, declared in routes(client):
        url = path.replace("{session_id}", session["id"])
        answer = client.request(method, url, params={"answr": "checksum"},
                                json={"step": 0, "f_x": 1.0, "f_plus": [2.0]} if method == "POST" else None)
        assert answer.status_code == 422, (method, path, answer.text)
        takes = ", ".join(sorted(declared)) or "none"
        assert answer.json()["detail"] == f"unknown query parameter 'answr'; this call takes {takes}", (method, path)
        seen += 1
    assert seen >= 10 and snapshot(client, session["id"]) == before


@pytest.mark.parametrize("query", ["answer=x&answer=checksum", "answer=checksum&answer=checksum"])
def test_a_query_parameter_given_twice_is_refused(client, query):
    session = create(client, dim=DIM, x0=[0.0] * DIM)
    before = snapshot(client, session["id"])
    answer = client.post(f"/v1/sessions/{session['id']}/tell?{query}", json={"step": 0, "f_x": 1.0, "f_plus": [2.0]})
    assert answer.status_code == 422 and answer.json()["detail"] == "query parameter 'answer' is given twice"
    assert snapshot(client, session["id"]) == before
    listed = client.get("/v1/sessions?limit=1&limit=2")
    assert listed.status_code == 422 and "'limit' is given twice" in listed.json()["detail"]


def test_the_api_reference_lists_that_422_for_every_call(client):
    """Every /v1 call refuses a query parameter it does not take, so every one documents 422;
    a create can meet a session its expired Idempotency-Key made: 409."""
    paths = client.get("/openapi.json").json()["paths"]
    operations = {(method, path): op for path, methods in paths.items() if path.startswith("/v1/")
                  for method, op in methods.items()}
    assert operations and all("422" in op["responses"] for op in operations.values()), [
        key for key, op in operations.items() if "422" not in op["responses"]]
    assert "409" in operations[("post", "/v1/sessions")]["responses"]


def test_a_read_that_answers_by_accept_says_so_to_caches(client):
    """GET x, a session, its trace: JSON or the frame by Accept, so a shared cache must key on it."""
    session = create(client, dim=2, x0=[0.0, 0.0])
    for path in (f"/v1/sessions/{session['id']}/x", f"/v1/sessions/{session['id']}",
                 f"/v1/sessions/{session['id']}/trace"):
        answer = client.get(path, headers={"Accept": "application/vnd.zoadamm.frame"})
        assert answer.status_code == 200 and answer.headers["vary"] == "Accept", (path, answer.headers)
