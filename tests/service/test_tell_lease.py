"""Tells with ``lease``: a worker reports its part of a shared step and, in the same request,
waits for the step to close and gets its record with the worker's lease on the next step (one
round trip per step).  Through the app, on both stores."""

from __future__ import annotations

import threading
import time
import types

import numpy as np
from service_support import LEASE_Q as Q
from service_support import ask_ok as ask
from service_support import open_shared_session as open_session

from tests.conftest import serving


def values(step: int, indices: list[int]) -> dict:
    """The same values for a direction whoever reports it, different from step to step."""
    return {"step": step, "f_x": 1.0 + step, "f_plus": [1.0 + step + 0.01 * (i + 1) for i in indices],
            "indices": indices}


def tell(client, sid: str, step: int, indices: list[int], answer: str = "checksum", **lease):
    return client.post(f"/v1/sessions/{sid}/tell?answer={answer}", json={**values(step, indices), **lease})


def without_expiry(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "lease_expires"}


def test_the_closing_tell_and_the_waiting_tell_both_get_the_record_and_a_lease(client):
    shared, whole = open_session(client), open_session(client)
    assert ask(client, shared, lease=2, worker="a")["leased"] == [0, 1]
    assert ask(client, shared, lease=2, worker="b")["leased"] == [2, 3]
    assert tell(client, shared, 0, [0, 1]).status_code == 202  # a's part is in
    waiting: list = []
    # a's tell with lease (its part again: the same values) waits for the step to close; b's
    # closes it.  In either order both answer the step's record and a lease on step 1.
    first = threading.Thread(target=lambda: waiting.append(
        tell(client, shared, 0, [0, 1], lease=2, worker="a", wait=20)))
    first.start()
    closing = tell(client, shared, 0, [2, 3], lease=2, worker="b", wait=20)
    first.join()
    (waited,) = waiting
    reference = tell(client, whole, 0, list(range(Q))).json()
    record = {"step": 0, "lr": reference["step_lr"], "checksum": reference["checksum"],
              "coefficients": reference["coefficients"]}
    for answer in (closing, waited):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["step"] == 1 and body["steps"] == [record]
        assert (body["checksum"], body["step_lr"], body["coefficients"]) == (
            reference["checksum"], reference["step_lr"], reference["coefficients"])
        assert body["lease_seconds"] == 10.0 and body["lease_expires"] is not None
    assert sorted(closing.json()["leased"] + waited.json()["leased"]) == list(range(Q))  # step 1, split anew


def test_a_repeated_tell_answers_the_same(client):
    sid = open_session(client)
    assert tell(client, sid, 0, [0, 1]).status_code == 202
    first = tell(client, sid, 0, [2, 3], lease=2, worker="b", wait=5)
    again = tell(client, sid, 0, [2, 3], lease=2, worker="b", wait=5)  # a reply lost: sent again
    assert first.status_code == again.status_code == 200
    assert without_expiry(first.json()) == without_expiry(again.json())
    assert first.json()["leased"] == [0, 1]
    assert ask(client, sid, lease=4, worker="c")["leased"] == [2, 3]  # b's lease was not doubled


def test_every_step_through_tells_with_lease_gives_the_x_of_one_worker(client):
    """Two workers alternating tells with lease (no ask after the first) and one worker telling
    whole steps end at the same x."""
    shared, whole = open_session(client), open_session(client)
    held = {w: ask(client, shared, lease=2, worker=w)["leased"] for w in ("a", "b")}
    for step in range(3):
        answers = {w: tell(client, shared, step, held[w], lease=2, worker=w) for w in ("a", "b")}
        assert answers["a"].status_code == 202 and answers["a"].json()["pending"] == held["b"]
        assert answers["a"].json()["leased"] == []  # wait 0: nothing to take over yet
        closed = answers["b"].json()
        assert answers["b"].status_code == 200 and closed["step"] == step + 1
        held = {"b": closed["leased"], "a": ask(client, shared, lease=2, worker="a")["leased"]}
        assert tell(client, whole, step, list(range(Q))).status_code == 200
    x = [np.array(client.get(f"/v1/sessions/{sid}/x").json()["x"]) for sid in (shared, whole)]
    np.testing.assert_array_equal(*x)


def test_until_leases_nothing_on_the_step_it_names(client):
    sid = open_session(client)
    answer = tell(client, sid, 0, list(range(Q)), lease=2, worker="a", until=1)
    assert answer.status_code == 200
    assert (answer.json()["step"], answer.json()["leased"], len(answer.json()["steps"])) == (1, [], 1)


def test_a_waiting_tell_takes_over_a_lease_that_ran_out(make_app):
    with serving(make_app(lease_seconds=1.5)) as client:  # the second ask comes well within it
        sid = open_session(client)
        assert ask(client, sid, lease=2, worker="dies")["leased"] == [0, 1]
        assert ask(client, sid, lease=2, worker="lives")["leased"] == [2, 3]
        taken = tell(client, sid, 0, [2, 3], lease=2, worker="lives", wait=10)
        assert taken.status_code == 202
        assert (taken.json()["step"], taken.json()["leased"], taken.json()["pending"]) == (0, [0, 1], [0, 1])
        closed = tell(client, sid, 0, [0, 1], lease=2, worker="lives", wait=10)
        assert closed.status_code == 200 and closed.json()["step"] == 1 and closed.json()["leased"] == [0, 1]


def test_a_closing_tell_answers_from_its_own_lease_unless_half_of_it_is_spent(client, monkeypatch):
    """The rule of ``Leases._closed_here``: the lease a tell's part took on the next step answers
    the tell once the step closed here, with no look at the store; when more than half of that
    lease has passed meanwhile (a stalled call: another worker may have taken it over since), the
    answer is leased again from the store, whose clock decides."""
    from zoadamm_service.domain import leases

    store = client.app.state.sessions.store
    looks: list[int] = []  # one item per lease asked of the store
    lease = store.lease

    async def counted(*args, **kwargs):
        looks.append(1)
        return await lease(*args, **kwargs)

    store.lease = counted
    sid = open_session(client)
    assert ask(client, sid, lease=2, worker="a")["leased"] == [0, 1]
    assert tell(client, sid, 0, [0, 1], lease=2, worker="a").status_code == 202  # took [2, 3] at once
    looks.clear()
    closed = tell(client, sid, 0, [2, 3], lease=2, worker="a")
    assert closed.status_code == 200 and closed.json()["leased"] == [0, 1]
    assert looks == []  # answered from the lease its part took
    assert tell(client, sid, 1, [0, 1], lease=2, worker="a").status_code == 202
    looks.clear()
    # from here on the leases' clock reads 6 s later than the grants' (half of the 10 s lease)
    clock = time.monotonic
    monkeypatch.setattr(leases, "time", types.SimpleNamespace(monotonic=lambda: clock() + 6.0))
    closed = tell(client, sid, 1, [2, 3], lease=2, worker="a")
    assert closed.status_code == 200 and closed.json()["leased"] == [0, 1]
    assert looks  # leased again from the store: the same directions, still this worker's


def test_bad_lease_fields_on_a_tell_are_refused(client):
    sid = open_session(client)
    bad = (("checksum", {"lease": 1}), ("x", {"lease": 1, "worker": "a"}), ("checksum", {"lease": 0, "worker": "a"}),
           ("checksum", {"lease": 1, "worker": "a", "wait": 31}),
           ("checksum", {"lease": 2**70, "worker": "a"}), ("checksum", {"lease": 1, "worker": "a", "until": 2**53}))
    for answer, lease in bad:
        refused = tell(client, sid, 0, [0], answer=answer, **lease)
        assert refused.status_code == 422, (answer, lease)
    assert ask(client, sid)["step"] == 0
    fo = client.post("/v1/sessions", json={"dim": 2, "method": "adamm", "x0": [0, 0]}).json()["id"]
    told = client.post(f"/v1/sessions/{fo}/tell?answer=checksum",
                       json={"step": 0, "gradient": [1.0, 1.0], "lease": 1, "worker": "a"})
    assert told.status_code == 422


def test_lease_fields_without_a_lease_and_unreadable_worker_names_are_refused(client):
    """worker, a wait, since and until say how to lease: alone they were ignored, now each is a 422
    naming it; a worker's name with a control character or a space at either end is refused
    (it would read like another worker's).  Nothing is recorded."""
    sid = open_session(client)
    alone = ({"worker": "a"}, {"wait": 5}, {"until": 3}, {"until": 0}, {"since": 0})
    for fields in alone:
        (name,) = fields
        for path, body in (("tell?answer=checksum", {**values(0, [0]), **fields}), ("ask", fields)):
            refused = client.post(f"/v1/sessions/{sid}/{path}", json=body)
            assert refused.status_code == 422, (path, fields)
            assert [e["loc"][-1] for e in refused.json()["errors"]] == [name], refused.json()
    for worker in (" a", "a ", "a\x00b", "a\nb", "a\u202eb", "\t"):
        refused = tell(client, sid, 0, [0], lease=1, worker=worker)
        assert refused.status_code == 422 and "worker's name" in refused.text, (worker, refused.text)
        assert client.post(f"/v1/sessions/{sid}/ask", json={"lease": 1, "worker": worker}).status_code == 422
    assert ask(client, sid, lease=1, worker="worker 1 (ü)")["leased"] == [0]  # spaces inside, any script
    first = tell(client, sid, 0, [0])  # the refused tells recorded nothing: direction 0 is the first in
    assert first.status_code == 202 and first.json()["pending"] == list(range(1, Q))


def test_replicas_on_one_redis_answer_leases_from_the_stores_head(redis_url):
    """A tell waiting on one replica learns of the step that another closed; a replica that
    missed steps never answers a lease, or an ask stopping at ``until``, from its old copy."""
    from contextlib import ExitStack

    from fastapi.testclient import TestClient

    from zoadamm_service.main import create_app
    from zoadamm_service.settings import Settings

    with ExitStack() as stack:
        one, two = (stack.enter_context(TestClient(create_app(Settings(redis_url=redis_url)))) for _ in range(2))
        sid = open_session(one)
        assert ask(one, sid, lease=2, worker="a")["leased"] == [0, 1]
        assert ask(two, sid, lease=2, worker="b")["leased"] == [2, 3]
        waiting: list = []
        first = threading.Thread(target=lambda: waiting.append(
            tell(one, sid, 0, [0, 1], lease=2, worker="a", wait=20)))
        first.start()
        closing = tell(two, sid, 0, [2, 3], lease=2, worker="b", wait=20)
        first.join()
        (waited,) = waiting
        assert closing.status_code == waited.status_code == 200
        assert closing.json()["steps"] == waited.json()["steps"] and waited.json()["step"] == 1
        assert sorted(closing.json()["leased"] + waited.json()["leased"]) == list(range(Q))
        for step in (1, 2):  # steps 1 and 2 close on the second replica only
            assert tell(two, sid, step, list(range(Q))).status_code == 200
            if step == 1:
                late = ask(one, sid, lease=4, worker="c", since=1)
                assert (late["step"], [s["step"] for s in late["steps"]]) == (2, [1])
        stopped = ask(one, sid, lease=4, worker="c", since=2, until=2)
        assert (stopped["step"], stopped["leased"], [s["step"] for s in stopped["steps"]]) == (3, [], [2])


def test_a_part_takes_the_directions_nobody_holds_without_waiting(client):
    """The rule for a tell that leaves its step open: the step's directions that nobody holds
    are leased to it at once, and it waits only while another worker holds some.  A worker
    alone, half the directions per lease: every part gets the other half, and no wait begins."""
    store = client.app.state.sessions.store
    waits: list[tuple[int, float]] = []
    wait_past = store.wait_past

    async def noting(session_id: str, seq: int, timeout: float, turn=None) -> bool:
        waits.append((seq, timeout))
        return await wait_past(session_id, seq, timeout, turn)

    store.wait_past = noting
    sid = open_session(client)
    assert ask(client, sid, lease=2, worker="a")["leased"] == [0, 1]
    for step in range(3):
        part = tell(client, sid, step, [0, 1], lease=2, worker="a", wait=5)
        assert part.status_code == 202 and part.json()["leased"] == [2, 3], part.text
        closed = tell(client, sid, step, [2, 3], lease=2, worker="a", wait=5)
        assert closed.status_code == 200 and closed.json()["leased"] == [0, 1], closed.text
    assert waits == []
    # another worker holds the rest of the next step: the part waits for it
    assert ask(client, sid, lease=2, worker="b")["leased"] == [2, 3]
    part = tell(client, sid, 3, [0, 1], lease=2, worker="a", wait=0.2)
    assert part.status_code == 202 and part.json()["leased"] == [], part.text
    assert waits and all(timeout <= 0.2 for _, timeout in waits)


def test_a_refused_part_changes_nothing(client):
    """A part that re-reports a direction with another value gets 409 and records none of its
    directions, and its lease on the next step is not taken."""
    sid = open_session(client)
    assert tell(client, sid, 0, [0]).status_code == 202
    changed = {**values(0, [0, 2]), "f_plus": [9.0, values(0, [2])["f_plus"][0]]}
    refused = client.post(f"/v1/sessions/{sid}/tell?answer=checksum", json={**changed, "lease": 4, "worker": "c"})
    assert refused.status_code == 409, refused.text
    # the message names the direction that differs, not the new one refused with it
    assert refused.json()["detail"].startswith("direction 0 of step 0 already reported with other values")
    assert tell(client, sid, 0, [1, 3]).status_code == 202  # direction 2 is still missing: the step stays open
    assert tell(client, sid, 0, [2]).status_code == 200
    assert ask(client, sid, lease=4, worker="d")["leased"] == [0, 1, 2, 3]  # c took none of step 1


def test_a_lease_the_store_keeps_refusing_is_503_with_retry_after(make_app, serve):
    """Other replicas moving the head on every try is contention, not a conflict of this call's
    step: 503 with Retry-After, which clients retry, where a 409 sent a shared worker away."""
    from zoadamm_service.errors import Conflict

    app = make_app()
    store = app.state.sessions.store

    async def moved(*args, **kwargs):
        raise Conflict("the head moved")

    with serve(app) as client:
        shared = open_session(client)
        store.lease = moved
        try:
            answer = client.post(f"/v1/sessions/{shared}/ask", json={"lease": 2, "worker": "a"})
        finally:
            del store.lease
        assert answer.status_code == 503, answer.text
        assert "too busy" in answer.json()["detail"] and answer.headers["Retry-After"]
        assert ask(client, shared, lease=2, worker="a")["leased"] == [0, 1]  # nothing was held
