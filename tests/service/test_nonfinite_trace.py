"""Values that do not fit the trace's float32 (f = 1e39, a central mean that overflows to inf)
against a service process on a real Redis, over real HTTP: a tell answers 200 or 422, never
500; the point keeps NaN for what float32 cannot hold; the trace, the session, and the
dashboard's session view and table go on answering 200 with null in its place."""

from __future__ import annotations

import json
import math

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoadamm_service.api.jsontext import dumps
from zoadamm_service.launch import ServiceProcess

DIM = 2
HUGE = [1e39, 1e308, 3.4e38, 3.41e38, 3.5e38, 1.7976931348623157e308]
TINY = [5e-324, 1e-310, 2.2250738585072014e-308, 1e-45, 1e-39]
VALUES = st.sampled_from([s * v for v in HUGE + TINY for s in (1, -1)] + [0.0, 1.0, -2.5])
KINDS = {
    "forward": {"difference": "forward"},
    "central": {"difference": "central"},
    "fo": {"method": "adamm"},
}


def strict_json(response: httpx.Response):
    """The body, refusing the NaN and Infinity tokens that are not JSON."""
    def refuse(token):
        raise AssertionError(f"{response.request.url} answered {token}, which is not JSON")
    return json.loads(response.text, parse_constant=refuse)


@pytest.fixture
def http(redis_url):
    # no dashboard cache: every read below loads from the store
    with ServiceProcess(redis_url, env={"ZOADAMM_DASHBOARD_CACHE_S": "0"}) as service:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            yield client


def create(http: httpx.Client, **config) -> str:
    r = http.post("/v1/sessions", json={"dim": DIM, "x0": [0.5] * DIM, "lr": 0.01, "seed": 3, **config})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def tell_body(kind: str, step: int, a: float, b: float) -> dict:
    if kind == "forward":
        return {"step": step, "f_x": a, "f_plus": [b]}
    if kind == "central":
        return {"step": step, "f_plus": [a], "f_minus": [b]}
    return {"step": step, "gradient": [a, b]}


def assert_reads_answer(http: httpx.Client, session_id: str) -> dict:
    """Every read of the session answers 200 with strict JSON; returns the trace."""
    for path in (f"/v1/sessions/{session_id}", f"/v1/dashboard/sessions/{session_id}", "/v1/dashboard/sessions"):
        r = http.get(path)
        assert r.status_code == 200, (path, r.text)
        strict_json(r)
    r = http.get(f"/v1/sessions/{session_id}/trace")
    assert r.status_code == 200, r.text
    return strict_json(r)


def test_the_reported_cases_store_null_and_every_read_answers(http):
    forward, central = create(http), create(http, difference="central")
    r = http.post(f"/v1/sessions/{forward}/tell", json={"step": 0, "f_x": 1e39, "f_plus": [1e39]})
    assert r.status_code == 200, r.text
    r = http.post(f"/v1/sessions/{central}/tell", json={"step": 0, "f_plus": [1e308], "f_minus": [1e308]})
    assert r.status_code == 200, r.text
    for session_id in (forward, central):
        trace = assert_reads_answer(http, session_id)
        assert trace["step"] == [0] and trace["f"] == [None] and trace["last"]["f"] is None
        assert trace["g_norm"] == [0.0]  # the point's other fields are kept
    rows = {row["id"]: row for row in strict_json(http.get("/v1/dashboard/sessions"))["sessions"]}
    assert rows[forward]["f"] is None and rows[central]["f"] is None and rows[central]["step"] == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_tell_of_any_size_answers_200_or_422_and_reads_stay_200(http, data):
    kind = data.draw(st.sampled_from(sorted(KINDS)), label="kind")
    a, b = data.draw(VALUES, label="a"), data.draw(VALUES, label="b")
    session_id = create(http, **KINDS[kind])
    r = http.post(f"/v1/sessions/{session_id}/tell", json=tell_body(kind, 0, a, b))
    assert r.status_code in (200, 422), r.text
    trace = assert_reads_answer(http, session_id)
    if r.status_code == 422:  # refused: nothing was stored
        assert trace["step"] == [] and trace["last"] is None
        return
    assert trace["step"] == [0]
    f = trace["f"][0]
    if kind == "fo":
        assert f is None  # an FO step reports no f
        return
    expected = (a + b) / 2 if kind == "central" else a
    if math.isfinite(expected) and abs(expected) <= 3.4028234663852886e38:
        assert f is not None and math.isclose(f, expected, rel_tol=1e-6, abs_tol=1e-37)
    else:
        assert f is None


def test_the_encoder_writes_nan_and_infinities_as_null():
    body = {"f": [1.0, math.nan, math.inf, -math.inf], "last": {"f": math.inf}, "name": "NaN"}
    assert json.loads(dumps(body)) == {"f": [1.0, None, None, None], "last": {"f": None}, "name": "NaN"}
