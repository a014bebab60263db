"""Asks with ``lease``: the open step's directions handed out to workers, the records of the steps
closed since a worker's x, waiting for a step to close, and a lease that runs out going to
another worker.  Through the app, on both stores."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from service_support import LEASE_Q as Q
from service_support import ask_ok as ask
from service_support import open_shared_session as open_session

from tests.conftest import serving
from zoadamm import METHODS
from zoadamm.methods import METHOD_TABLE


def tell(client, sid: str, step: int, indices: list[int], answer: str = "checksum"):
    f_plus = [1.0 + 0.01 * (i + 1) for i in indices]
    return client.post(f"/v1/sessions/{sid}/tell?answer={answer}",
                       json={"step": step, "f_x": 1.0, "f_plus": f_plus, "indices": indices})


def test_workers_get_disjoint_leases_and_a_retry_gets_its_own_back(client):
    sid = open_session(client)
    a = ask(client, sid, lease=3, worker="a")
    assert (a["step"], a["leased"], a["lease_seconds"]) == (0, [0, 1, 2], 10.0)
    assert a["lease_expires"] > time.time()
    assert ask(client, sid, lease=3, worker="a")["leased"] == [0, 1, 2]
    assert ask(client, sid, lease=3, worker="b")["leased"] == [3]
    assert ask(client, sid, lease=3, worker="c")["leased"] == []
    plain = ask(client, sid)  # an ask without lease is the ask it always was
    assert "leased" not in plain and plain["step"] == 0


def test_a_lease_asked_for_again_keeps_its_expiry(client):
    """The answer's expiry is the store's: asking again gets the lease back, not renewed."""
    sid = open_session(client)
    first = ask(client, sid, lease=2, worker="a")
    time.sleep(1.0)
    again = ask(client, sid, lease=3, worker="a")  # the two it holds, and one more for 10 s
    assert again["leased"] == [0, 1, 2]
    # the same instant, by the store's clock (read from this process's clock, it moved by a
    # millisecond or so between the asks); a renewal would read 1 s later
    assert again["lease_expires"] == first["lease_expires"]
    taker = ask(client, sid, lease=4, worker="b")
    assert taker["leased"] == [3] and taker["lease_expires"] - first["lease_expires"] > 0.5


def test_the_answer_carries_the_steps_closed_since_the_workers_x(client):
    sid = open_session(client)
    assert tell(client, sid, 0, [0, 1]).status_code == 202
    closed = tell(client, sid, 0, [2, 3]).json()
    assert closed["step"] == 1
    answer = ask(client, sid, lease=2, worker="late", since=0)
    assert answer["step"] == 1 and answer["leased"] == [0, 1]
    (record,) = answer["steps"]
    assert record == {"step": 0, "lr": closed["step_lr"], "checksum": closed["checksum"],
                      "coefficients": closed["coefficients"]}
    assert ask(client, sid, lease=2, worker="late", since=1)["steps"] == []


def test_until_leases_nothing_from_that_step_on(client):
    sid = open_session(client)
    answer = ask(client, sid, lease=2, worker="a", until=0, since=0)
    assert (answer["leased"], answer["steps"]) == ([], [])
    assert ask(client, sid, lease=4, worker="b")["leased"] == [0, 1, 2, 3]


def test_a_waiting_ask_answers_when_the_step_closes(client):
    sid = open_session(client)
    assert ask(client, sid, lease=Q, worker="a")["leased"] == list(range(Q))
    closer = threading.Timer(0.3, lambda: tell(client, sid, 0, list(range(Q))))
    closer.start()
    started = time.monotonic()
    answer = ask(client, sid, lease=2, worker="b", wait=20, since=0)
    closer.join()
    assert time.monotonic() - started < 10  # woken by the step, not by the end of the wait
    assert (answer["step"], answer["leased"], len(answer["steps"])) == (1, [0, 1], 1)


def test_a_waiting_ask_answers_when_the_step_closes_even_with_nothing_free(client):
    """The workers that close a step lease the next one with their parts: a waiting ask then
    answers the new step with nothing leased, at the close, not when their leases run out."""
    sid = open_session(client)
    assert ask(client, sid, lease=2, worker="a")["leased"] == [0, 1]
    assert ask(client, sid, lease=2, worker="b")["leased"] == [2, 3]

    def close_holding_the_next_step() -> None:
        for worker, part in (("a", [0, 1]), ("b", [2, 3])):
            body = {"step": 0, "f_x": 1.0, "f_plus": [1.0 + 0.01 * (i + 1) for i in part], "indices": part,
                    "lease": 2, "worker": worker}
            client.post(f"/v1/sessions/{sid}/tell?answer=checksum", json=body)

    closer = threading.Timer(0.3, close_holding_the_next_step)
    closer.start()
    answer = ask(client, sid, lease=1, worker="c", wait=20, since=0)
    closer.join()
    # answered at the close: a and b hold all of step 1 (a wait until their leases, 10 s, ran
    # out would have leased c some of it)
    assert (answer["step"], answer["leased"], len(answer["steps"])) == (1, [], 1)
    # an ask whose x is already behind (since 0, the session at step 1) answers at once, with
    # the records to catch up, rather than waiting on a step it has not seen
    behind = ask(client, sid, lease=1, worker="c", wait=20, since=0)
    assert (behind["step"], behind["leased"], len(behind["steps"])) == (1, [], 1)


def test_a_lease_not_told_in_time_goes_to_another_worker(make_app):
    with serving(make_app(lease_seconds=0.3)) as client:
        sid = open_session(client)
        assert ask(client, sid, lease=Q, worker="dies")["leased"] == list(range(Q))
        taken = ask(client, sid, lease=Q, worker="lives", wait=10)
        assert taken["leased"] == list(range(Q))
        assert tell(client, sid, 0, list(range(Q))).json()["step"] == 1


@pytest.mark.parametrize("method", [m for m in METHODS if METHOD_TABLE[m].takes == "values"])
def test_shared_steps_give_the_x_of_one_worker(client, method):
    """Two workers splitting every step and one worker telling whole steps end at the same x,
    for every method that takes function values, in a box."""
    config = {"method": method, "lr": 0.5, "constraint": {"box": {"lower": -1.5, "upper": [0.6, -0.9, 2.1]}}}
    shared, whole = open_session(client, **config), open_session(client, **config)
    for step in range(3):
        first = ask(client, shared, lease=2, worker="a")["leased"]
        second = ask(client, shared, lease=2, worker="b")["leased"]
        assert tell(client, shared, step, first).status_code == 202
        assert tell(client, shared, step, second).status_code == 200
        assert tell(client, whole, step, list(range(Q))).status_code == 200
    x = [np.array(client.get(f"/v1/sessions/{sid}/x").json()["x"]) for sid in (shared, whole)]
    np.testing.assert_array_equal(*x)
    assert not np.array_equal(x[0], [0.5, -1.0, 2.0])  # it moved
    assert np.all(x[0] >= -1.5) and np.all(x[0] <= np.array([0.6, -0.9, 2.1], np.float32))


def test_only_zo_sessions_lease_and_bad_fields_are_refused(client):
    fo = client.post("/v1/sessions", json={"dim": 2, "method": "adamm", "x0": [0, 0]}).json()["id"]
    refused = client.post(f"/v1/sessions/{fo}/ask", json={"lease": 1})
    assert refused.status_code == 422 and "a lease is of directions" in refused.json()["detail"]
    sid = open_session(client)
    for body in ({"lease": 0}, {"lease": 1, "wait": 31}, {"lease": 1, "worker": ""}, {"lease": 1, "since": -1},
                 {"lease": 2**70, "worker": "a"}, {"lease": 1, "worker": "a", "since": 2**53},  # beyond 2^53 - 1
                 {"lease": 1, "worker": "a", "until": 2**70}):
        assert client.post(f"/v1/sessions/{sid}/ask", json=body).status_code == 422, body


def test_a_wait_on_a_session_that_is_deleted_ends_at_the_delete(client):
    """On every store, the embedded one included: its waits had no look to find the session gone
    and answered 404 only at their timeout."""
    sid = open_session(client)
    assert len(ask(client, sid, lease=Q, worker="a")["leased"]) == Q  # nothing left to lease
    answered: list[tuple[int, float]] = []

    def waiting() -> None:
        started = time.monotonic()
        r = client.post(f"/v1/sessions/{sid}/ask", json={"lease": 1, "worker": "b", "wait": 20})
        answered.append((r.status_code, time.monotonic() - started))

    waiter = threading.Thread(target=waiting)
    waiter.start()
    time.sleep(0.3)
    assert client.delete(f"/v1/sessions/{sid}").status_code == 204
    waiter.join()
    (status, seconds), = answered
    assert status == 404 and seconds < 10, answered  # the delete, not the 20 s wait, ended it


def test_a_part_that_no_other_part_could_save_is_refused_before_it_is_recorded(client):
    """A part is recorded as it comes and stays: one whose values alone make the step's gradient
    too large is refused (422) unrecorded, so that the step can still be completed."""
    session = client.post("/v1/sessions", json={"dim": 2, "directions": 3, "seed": 5, "x0": [1.0, 2.0]}).json()
    tell = f"/v1/sessions/{session['id']}/tell"
    refused = client.post(tell, json={"step": 0, "indices": [0], "f_x": 1.0, "f_plus": [1e30]})
    assert refused.status_code == 422 and "share of the gradient too large" in refused.json()["detail"]
    assert client.post(tell, json={"step": 0, "indices": [1, 2], "f_x": 1.0, "f_plus": [1.1, 1.2]}).status_code == 202
    closed = client.post(tell, json={"step": 0, "indices": [0], "f_x": 1.0, "f_plus": [1.05]})
    assert closed.status_code == 200 and client.get(f"/v1/sessions/{session['id']}").json()["step"] == 1


def test_a_whole_tell_over_directions_reported_apart_is_compared_with_them(client):
    """A tell without indices closed the step with its own values over a direction already
    reported with others: it is compared as every part is (409 for other values), and with the
    same values it closes the step as the last part would."""
    session = client.post("/v1/sessions", json={"dim": 2, "directions": 2, "seed": 5, "x0": [1.0, 2.0]}).json()
    tell, step = f"/v1/sessions/{session['id']}/tell", f"/v1/sessions/{session['id']}"
    assert client.post(tell, json={"step": 0, "indices": [0], "f_x": 1.0, "f_plus": [1.1]}).status_code == 202
    other = client.post(tell, json={"step": 0, "f_x": 1.0, "f_plus": [5.0, 1.2]})
    assert other.status_code == 409 and "direction 0 of step 0 already reported" in other.json()["detail"]
    assert client.get(step).json()["step"] == 0
    same = client.post(tell, json={"step": 0, "f_x": 1.0, "f_plus": [1.1, 1.2]})
    assert same.status_code == 200 and client.get(step).json()["step"] == 1
    again = client.post(tell, json={"step": 0, "indices": [0], "f_x": 1.0, "f_plus": [1.1]})  # a's retry
    assert again.status_code == 200
