"""The OpenAPI description states what it can of the request bodies, and the service agrees with
it: against a service process on a real Redis, over real HTTP, a body the description refuses
gets 422 naming the problem, and one it accepts (with lengths that match the session) is taken.
What no schema can state (a vector's length, the session's method) is listed in docs/api.md."""

from __future__ import annotations

import httpx
import jsonschema_rs
import pytest

from zoadamm_service.launch import ServiceProcess


@pytest.fixture(scope="module")
def http(module_redis_url):
    with ServiceProcess(module_redis_url) as service, httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


def body_schema(spec: dict, path: str) -> dict:
    """The JSON body's schema of POST ``path``, with the components it refers to."""
    body = spec["paths"][path]["post"]["requestBody"]
    return {**body["content"]["application/json"]["schema"], "components": spec["components"]}


def session(http: httpx.Client, **config) -> str:
    r = http.post("/v1/sessions", json={"dim": 2, "x0": [0.5, 0.5], "seed": 1, **config})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_bodies_with_a_required_field_are_marked_required(http):
    spec = http.get("/openapi.json").json()
    required = {path: ops["post"]["requestBody"]["required"] for path, ops in spec["paths"].items()
                if "requestBody" in ops.get("post", {})}
    assert required == {"/v1/sessions": True, "/v1/sessions/{session_id}/ask": False,
                        "/v1/sessions/{session_id}/tell": True, "/v1/sessions/{session_id}/metrics": True}
    sid = session(http)
    r = http.post(f"/v1/sessions/{sid}/metrics")  # no body at all
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["value"], r.text
    assert http.get(f"/v1/sessions/{sid}/metrics").json()["items"] == []  # nothing was recorded


ZO_BODIES = [  # (body, what the description says of it)
    ({"step": 0, "f_x": 1.0, "f_plus": [2.0]}, True),
    ({"step": 0.0, "f_x": 1.0, "f_plus": [2.0]}, True),  # JSON Schema's integer: 0.0 is one
    ({"step": 0, "f_x": 1.0}, False),  # neither f_plus nor gradient
    ({"step": 0, "f_plus": None, "gradient": None}, False),
    ({"step": 0, "f_plus": [2.0], "gradient": [1.0, 1.0]}, False),  # a gradient comes alone
    ({"step": 0, "f_plus": [2.0], "lease": 1}, False),  # a lease needs a worker
    ({"step": 0.5, "f_plus": [2.0]}, False),
]


@pytest.mark.parametrize(("body", "valid"), ZO_BODIES)
def test_the_tell_schema_and_the_service_agree(http, body, valid):
    spec = http.get("/openapi.json").json()
    schema = body_schema(spec, "/v1/sessions/{session_id}/tell")
    assert "anyOf" in schema
    assert jsonschema_rs.validator_for(schema).is_valid(body) is valid
    sid = session(http)
    r = http.post(f"/v1/sessions/{sid}/tell", json=body)
    assert (r.status_code == 200) is valid, r.text
    if not valid:
        assert r.status_code == 422 and r.json()["detail"], r.text
        assert http.get(f"/v1/sessions/{sid}/trace").json()["step"] == []  # refused: nothing stored


def test_an_fo_tell_with_a_gradient_alone_is_valid_and_taken(http):
    spec = http.get("/openapi.json").json()
    body = {"step": 0, "gradient": [1.0, -1.0]}
    assert jsonschema_rs.validator_for(body_schema(spec, "/v1/sessions/{session_id}/tell")).is_valid(body)
    r = http.post(f"/v1/sessions/{session(http, method='adamm')}/tell", json=body)
    assert r.status_code == 200, r.text
