"""Exactly-once POSTs: a store that does the write and then loses its reply (a Redis timeout
after the script ran) makes the service answer 503, and the SDK sends the call again with the
same Idempotency-Key.  Creates, metric reports and split-step tells are each applied once."""

from __future__ import annotations

import numpy as np
import pytest
from service_support import objective, reference, x0_for, zo_values

from zoadamm import Client, wire
from zoadamm_service.errors import StoreUnavailable

DIM = 4


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr("zoadamm.sdk.client.time.sleep", lambda seconds: None)


def lose_replies(app, method: str, times: int = 1) -> list[int]:
    """The store's ``method`` does its work, then fails ``times`` times as if the reply was lost."""
    store = app.state.sessions.store
    real, lost = getattr(store, method), []

    async def losing(*args, **kwargs):
        result = await real(*args, **kwargs)
        if len(lost) < times:
            lost.append(1)
            raise StoreUnavailable("the reply was lost")
        return result

    setattr(store, method, losing)
    return lost


def test_a_create_is_made_once(make_app, serve):
    app = make_app()
    with serve(app) as test_client:
        sdk = Client(http_client=test_client)
        lost = lose_replies(app, "create", times=2)
        session = sdk.sessions.create(DIM, name="once", seed=3)
        assert lost == [1, 1]
        assert [(s.id, s.name) for s in sdk.sessions.list()] == [(session.id, "once")]
        assert sdk.sessions.get(session.id).config["seed"] == 3


def test_a_metric_is_counted_once(make_app, serve):
    app = make_app()
    with serve(app) as test_client:
        sdk = Client(http_client=test_client)
        session = sdk.sessions.create(DIM, x0=x0_for(DIM), schedule={"patience": 0})
        lost = lose_replies(app, "append", times=2)
        entry = sdk.sessions.report(session.id, 5.0)
        assert lost == [1, 1]
        assert [h["value"] for h in sdk.sessions.history(session.id)] == [5.0]
        # one report of a first value: an improvement, so lr stays; counted twice it would halve
        assert (entry["lr"], sdk.sessions.get(session.id).lr) == (session.lr, session.lr)


def test_a_metric_report_sent_with_its_sessions_create_key_is_a_request_of_its_own(client):
    """The create's record and the report's lived under one key of the session: the report was
    422 "sent before with another request", though the same key on any other session was not."""
    created = client.post("/v1/sessions", json={"dim": DIM, "x0": [0.0] * DIM}, headers={"Idempotency-Key": "K"})
    sid = created.json()["id"]
    first = client.post(f"/v1/sessions/{sid}/metrics", json={"value": 2.0}, headers={"Idempotency-Key": "K"})
    again = client.post(f"/v1/sessions/{sid}/metrics", json={"value": 2.0}, headers={"Idempotency-Key": "K"})
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()
    assert [h["value"] for h in client.get(f"/v1/sessions/{sid}/metrics").json()["items"]] == [2.0]
    replayed = client.post("/v1/sessions", json={"dim": DIM, "x0": [0.0] * DIM}, headers={"Idempotency-Key": "K"})
    assert replayed.status_code == 201 and replayed.json() == created.json()


@pytest.mark.parametrize("losing", ["add_partials", "append"])
def test_a_split_step_is_applied_once(make_app, serve, losing):
    f, _ = objective(DIM)
    app = make_app()
    with serve(app) as test_client:
        sdk = Client(http_client=test_client)
        session = sdk.sessions.create(DIM, x0=x0_for(DIM), directions=3, seed=9, lr=0.05)
        opt = reference({"config": session.config}, x0_for(DIM))
        values = zo_values(opt, f)
        f_x, f_plus = values["f_x"], values["f_plus"]
        lost = lose_replies(app, losing, times=1)
        first = sdk.sessions.tell(session.id, 0, f_x=[f_x, f_x], f_plus=f_plus[:2], indices=[0, 1])
        last = sdk.sessions.tell(session.id, 0, f_x=[f_x], f_plus=f_plus[2:], indices=[2])
        assert lost == [1]
        assert first.pending == [2] and last.pending is None and last.step == 1
        opt.apply(opt.zo_record(f_x, f_plus))
        stored = sdk.sessions.parameters(session.id)
        assert stored.step == 1 and np.array_equal(stored.x, opt.state.x)


def test_a_key_sent_again_with_bounds_that_make_another_set_is_refused(client):
    """A constraint's bounds round inward from the value sent: 0.5 and 0.50000000001 are one
    float32 but two sets (0.5 and the float32 above it).  The key counts them as sent, so the
    second create is 422, not the first session replayed; the same bounds replay it."""
    def create(lower: float):
        body = {"dim": 2, "constraint": {"box": {"upper": 1.0}}, "constraint.box.lower": [lower, lower]}
        return client.post("/v1/sessions", json=body, headers={"Idempotency-Key": "bounds-once"})

    first = create(0.5)
    assert first.status_code == 201, first.text
    assert create(0.5).json()["id"] == first.json()["id"]
    other = create(0.50000000001)
    assert other.status_code == 422 and "Idempotency-Key" in other.text, other.text


def test_a_key_sent_again_with_the_bounds_moved_between_json_and_the_frame_replays_the_create(client):
    """A constraint's vector inline in the constraint, as a top-level list or in the frame: one
    request, so the same key answers the session made by the first; another bound is refused."""
    lower = [0.25, 0.5]
    def create(form: str, lower=lower):
        box = {"upper": 1.0, **({"lower": lower} if form == "inline" else {})}
        fields = {"dim": 2, "constraint": {"box": box}}
        headers = {"Idempotency-Key": "bounds-moved"}
        if form == "top-level":
            return client.post("/v1/sessions", json={**fields, "constraint.box.lower": lower}, headers=headers)
        if form == "frame":
            body = wire.encode(fields, {"constraint.box.lower": np.array(lower, np.float32)})
            return client.post("/v1/sessions", content=body, headers={**headers, "Content-Type": wire.MEDIA_TYPE})
        return client.post("/v1/sessions", json=fields, headers=headers)

    first = create("inline")
    assert first.status_code == 201, first.text
    for form in ("top-level", "frame", "inline"):
        again = create(form)
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"], (form, again.text)
    other = create("inline", [0.25, 0.75])
    assert other.status_code == 422 and "Idempotency-Key" in other.text, other.text
    assert client.get("/v1/sessions").json()["total"] == 1


def test_a_key_sent_again_with_a_whole_number_written_as_a_float_replays_the_create(client):
    """The API reads 3.0 as the integer 3: a create sent again with 3.0 where it had 3 (or 1 for
    1.0) is the same request, and its key answers the first session; 3.5 is another request."""
    def create(dim, upper, lr=0.01):
        body = {"dim": dim, "lr": lr, "constraint": {"box": {"lower": 0, "upper": upper}}}
        return client.post("/v1/sessions", json=body, headers={"Idempotency-Key": "whole-numbers"})

    first = create(3, 1.0)
    assert first.status_code == 201, first.text
    again = create(3.0, 1)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"], again.text
    other = create(3, 1.0, lr=0.02)
    assert other.status_code == 422 and "Idempotency-Key" in other.text, other.text
    assert client.get("/v1/sessions").json()["total"] == 1


def test_two_idempotency_keys_in_one_request_are_refused(client):
    answer = client.post("/v1/sessions", json={"dim": 2},
                         headers=[("Idempotency-Key", "one"), ("Idempotency-Key", "two")])
    assert answer.status_code == 422 and "one Idempotency-Key" in answer.text
    assert client.get("/v1/sessions").json()["total"] == 0


def test_a_step_that_fails_half_applied_is_not_applied_again_to_what_it_left(client, monkeypatch):
    """A projection that raised after the moments moved (a ZeroDivisionError of the l2 ball's
    start) answered 500 and left the half-moved state in memory; the client's retry then applied
    the step again to it: x was that of the step taken twice."""
    from zoadamm import FeasibleSet

    dim = 4
    made = client.post("/v1/sessions", json={"dim": dim, "method": "adamm", "x0": [0.5] * dim, "schedule": None,
                                             "constraint": {"ball": {"norm": "2", "center": 0.0, "radius": 1.0}}})
    sid = made.json()["id"]
    real, calls = FeasibleSet.project_in_step, []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("float division by zero")
        return real(*args, **kwargs)

    monkeypatch.setattr(FeasibleSet, "project_in_step", fails_once)
    gradient = {"step": 0, "gradient": [1.0, -2.0, 3.0, -4.0]}
    assert client.post(f"/v1/sessions/{sid}/tell", json=gradient).status_code == 500
    retried = client.post(f"/v1/sessions/{sid}/tell", json=gradient)
    assert retried.status_code == 200, retried.text
    monkeypatch.setattr(FeasibleSet, "project_in_step", real)
    once = client.post("/v1/sessions", json={"dim": dim, "method": "adamm", "x0": [0.5] * dim, "schedule": None,
                                             "constraint": {"ball": {"norm": "2", "center": 0.0, "radius": 1.0}}})
    clean = client.post(f"/v1/sessions/{once.json()['id']}/tell", json=gradient)
    assert retried.json()["x"] == clean.json()["x"]  # the step once, as a fault-free session takes it


def test_an_idempotency_key_is_printable_ascii_as_the_openapi_pattern_says(client):
    """The rule and the document's pattern are one: a key the pattern refuses is refused (422),
    and one it takes is taken, where Latin-1 letters passed and other bytes did not, unstated."""
    import re

    schema = next(p["schema"] for p in client.get("/openapi.json").json()["paths"]["/v1/sessions"]["post"]["parameters"]
                  if p["name"] == "Idempotency-Key")
    for key in ("a" * 255, " ~!", "k-0123"):
        assert re.fullmatch(schema["pattern"], key)
        assert client.post("/v1/sessions", json={"dim": 2}, headers={"Idempotency-Key": key}).status_code == 201
    for key in ("a" * 256, "caf\xe9", "a\x80", "tab\there"):
        assert not re.fullmatch(schema["pattern"], key)
        refused = client.post("/v1/sessions", json={"dim": 2}, headers=[(b"Idempotency-Key", key.encode("latin-1"))])
        assert refused.status_code == 422 and "printable ASCII" in refused.json()["detail"], (key, refused.text)
    assert client.get("/v1/sessions").json()["total"] == 3
