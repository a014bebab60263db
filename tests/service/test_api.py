"""The HTTP API end to end through the app (TestClient), on the in-process store and on Redis.

Every number the service answers is checked against ``zoadamm.Optimizer`` run in this process.
"""

from __future__ import annotations

import numpy as np
import pytest
from service_support import (
    FRAME,
    apply_zo,
    bits,
    create,
    get_x,
    objective,
    reference,
    tell,
    x0_for,
    zo_values,
)

from zoadamm import SessionConfig, StepRecord, directions, wire

DIM = 12


@pytest.fixture(params=["memory", "redis", "cluster"])
def store_kind(request) -> str:
    """This suite runs on a Redis Cluster too."""
    return request.param


# --- sessions ------------------------------------------------------------------------------
def test_create_get_list_delete(client):
    a = create(client, dim=DIM, name="a", seed=99, directions=2, lr=0.05)
    b = create(client, dim=3, name=None, schedule=None)
    assert a["step"] == 0 and a["name"] == "a" and a["has_parameters"] is False
    assert a["config"]["seed"] == 99 and a["config"]["directions"] == 2 and a["config"]["lr"] == 0.05
    assert SessionConfig.from_dict(a["config"]).dim == DIM
    assert b["config"]["schedule"] is None
    assert isinstance(b["config"]["seed"], int)  # drawn by the service when omitted
    assert (a["lr"], a["mu"]) == (a["config"]["lr"], a["config"]["mu"])

    got = client.get(f"/v1/sessions/{a['id']}").json()
    assert got == a
    listing = client.get("/v1/sessions").json()
    assert listing["total"] == 2
    assert [s["id"] for s in listing["sessions"]] == [a["id"], b["id"]]
    assert client.get("/v1/sessions", params={"offset": 1, "limit": 1}).json()["sessions"][0]["id"] == b["id"]

    r = client.delete(f"/v1/sessions/{a['id']}")
    assert r.status_code == 204 and r.content == b""
    for method, path in [("GET", ""), ("GET", "/x"), ("GET", "/metrics"), ("DELETE", ""), ("POST", "/ask")]:
        assert client.request(method, f"/v1/sessions/{a['id']}{path}").status_code == 404
    assert client.get("/v1/sessions").json()["total"] == 1


def test_a_create_answers_where_the_session_lives(client):
    """201 with Location, as HTTP has it, the same for a repeat of the create."""
    made = client.post("/v1/sessions", json={"dim": DIM}, headers={"Idempotency-Key": "where"})
    again = client.post("/v1/sessions", json={"dim": DIM}, headers={"Idempotency-Key": "where"})
    where = f"/v1/sessions/{made.json()['id']}"
    assert made.status_code == 201 and made.headers["location"] == where
    assert again.headers["location"] == where and client.get(where).json() == made.json()


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_create_with_x0_in_a_binary_frame(client):
    x0 = x0_for(DIM)
    body = wire.encode({"dim": DIM, "seed": 5}, {"x0": x0})
    r = client.post("/v1/sessions", content=body, headers={"Content-Type": FRAME})
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["has_parameters"] is True
    step, x = get_x(client, session["id"])
    assert step == 0 and bits(x) == bits(x0)
    as_json = client.get(f"/v1/sessions/{session['id']}/x").json()
    assert as_json["step"] == 0 and bits(np.array(as_json["x"], np.float32)) == bits(x0)


# --- ZO steps ------------------------------------------------------------------------------
@pytest.mark.parametrize("distribution,difference,q", [
    ("sphere", "forward", 1), ("sphere", "central", 3), ("gaussian", "forward", 4), ("gaussian", "central", 2),
])
def test_zo_steps_match_the_in_process_optimizer(client, distribution, difference, q):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, lr=0.05, mu=0.01, directions=q,
                     distribution=distribution, difference=difference, seed=2**53 - 3)
    sid, opt = session["id"], reference(session, x0)
    for t in range(5):
        values = zo_values(opt, f)
        answer = tell(client, sid, values)
        apply_zo(opt, values)
        assert answer["step"] == t + 1 == opt.step
        assert bits(np.array(answer["x"], np.float32)) == bits(opt.state.x)
        assert (answer["lr"], answer["mu"]) == (opt.lr, opt.mu)
    step, x = get_x(client, sid)
    assert step == 5 and bits(x) == bits(opt.state.x)
    assert f(x) < f(x0)  # and it optimizes
    assert client.get(f"/v1/sessions/{sid}").json()["step"] == 5


def test_binary_tell_answers_a_binary_x(client):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, directions=2)
    sid, opt = session["id"], reference(session, x0)
    values = zo_values(opt, f)
    r = client.post(f"/v1/sessions/{sid}/tell", content=wire.encode(values),
                    headers={"Content-Type": FRAME, "Accept": FRAME})
    assert r.status_code == 200, r.text
    fields, vectors = wire.decode(r.content)
    apply_zo(opt, values)
    assert fields["step"] == 1 and bits(vectors["x"]) == bits(opt.state.x)


def test_ask_returns_the_open_step_and_its_directions(client):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, directions=3, distribution="gaussian", mu=0.02)
    sid, opt = session["id"], reference(session, x0)
    tell(client, sid, zo_values(opt, f))
    apply_zo(opt, zo_values(opt, f))
    r = client.post(f"/v1/sessions/{sid}/ask")
    assert r.status_code == 200
    ask = r.json()
    cfg = opt.config
    assert ask["step"] == 1 and ask["seed"] == cfg.seed and ask["mu"] == opt.mu and ask["lr"] == opt.lr
    described = (ask["directions"], ask["distribution"], ask["difference"], ask["method"])
    assert described == (3, "gaussian", "forward", "zo-adamm")
    assert ask.get("u") is None
    expected = directions(cfg.seed, 1, 3, DIM, "gaussian")
    with_u = client.post(f"/v1/sessions/{sid}/ask", params={"vectors": "true"}).json()
    assert bits(np.array(with_u["u"], np.float32)) == bits(expected)
    r = client.post(f"/v1/sessions/{sid}/ask", params={"vectors": "true"}, headers={"Accept": FRAME})
    fields, vectors = wire.decode(r.content)
    assert fields["step"] == 1 and bits(vectors["u"].reshape(3, DIM)) == bits(expected)


def test_x_is_set_by_the_first_ask_and_checked_after(client):
    f, _ = objective(DIM)
    session = create(client, dim=DIM, seed=3)
    sid = session["id"]
    x0 = x0_for(DIM)
    # no parameters yet: nothing to tell, ask or fetch
    assert client.post(f"/v1/sessions/{sid}/ask").status_code == 409
    assert client.get(f"/v1/sessions/{sid}/x").status_code == 409
    r = tell(client, sid, {"step": 0, "f_x": 1.0, "f_plus": [2.0]}, expect=409)
    assert r["step"] == 0
    # the first ask's x sets them
    r = client.post(f"/v1/sessions/{sid}/ask", json={"x": x0.tolist()})
    assert r.status_code == 200 and r.json()["step"] == 0
    assert client.get(f"/v1/sessions/{sid}").json()["has_parameters"] is True
    opt = reference(client.get(f"/v1/sessions/{sid}").json(), x0)
    # a different x cannot replace them, even before the first step
    other = x0 + np.float32(1)
    r = client.post(f"/v1/sessions/{sid}/ask", json={"x": other.tolist()})
    assert r.status_code == 409 and r.json()["step"] == 0
    values = zo_values(opt, f)
    tell(client, sid, values)
    apply_zo(opt, values)
    # after a step, ask checks x: the updated one passes, the old one gets 409 with the step
    assert client.post(f"/v1/sessions/{sid}/ask", json={"x": opt.state.x.tolist()}).status_code == 200
    r = client.post(f"/v1/sessions/{sid}/ask", content=wire.encode({}, {"x": x0}), headers={"Content-Type": FRAME})
    assert r.status_code == 409 and r.json()["step"] == 1
    assert bits(get_x(client, sid)[1]) == bits(opt.state.x)


# --- FO steps ------------------------------------------------------------------------------
def test_fo_steps_match_the_in_process_optimizer(client):
    _, grad = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, method="adamm", lr=0.1)
    sid, opt = session["id"], reference(session, x0)
    for t in range(4):
        g = grad(opt.state.x)
        if t % 2:
            r = client.post(f"/v1/sessions/{sid}/tell", content=wire.encode({"step": t}, {"gradient": g}),
                            headers={"Content-Type": FRAME, "Accept": FRAME})
            assert r.status_code == 200, r.text
            fields, vectors = wire.decode(r.content)
            answer_x = vectors["x"]
        else:
            fields = tell(client, sid, {"step": t, "gradient": g.tolist()})
            answer_x = np.array(fields["x"], np.float32)
        opt.apply(opt.fo_record(g))
        assert fields["step"] == t + 1 and bits(answer_x) == bits(opt.state.x)
    assert bits(get_x(client, sid)[1]) == bits(opt.state.x)


def test_fo_checksum_answer(client):
    _, grad = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, method="adamm")
    sid, opt = session["id"], reference(session, x0)
    g = grad(x0)
    answer = tell(client, sid, {"step": 0, "gradient": g.tolist()}, answer="checksum")
    assert answer["checksum"] == wire.checksum(x0) and answer["coefficients"] is None
    assert answer["step_lr"] == opt.lr and "x" not in answer
    opt.apply(opt.fo_record(g))
    assert bits(get_x(client, sid)[1]) == bits(opt.state.x)


# --- mirror mode ---------------------------------------------------------------------------
@pytest.mark.parametrize("difference", ["forward", "central"])
def test_a_mirror_applying_the_step_records_stays_bit_identical(client, difference):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, directions=3, difference=difference, lr=0.05,
                     schedule={"factor": 0.5, "patience": 0})
    sid = session["id"]
    mirror = reference(session, x0)  # only ever fed what the service answers
    truth = reference(session, x0)  # computes each step itself
    for t in range(6):
        values = zo_values(mirror, f)
        before = wire.checksum(mirror.state.x)
        answer = tell(client, sid, values, answer="checksum")
        assert answer["step"] == t + 1 and "x" not in answer
        assert answer["checksum"] == before
        record = truth.zo_record(values.get("f_x"), values["f_plus"], values.get("f_minus"))
        coefficients = np.array(answer["coefficients"], np.float32)
        assert bits(coefficients) == bits(record.coefficients) and answer["step_lr"] == record.lr
        mirror.apply(StepRecord(t, answer["step_lr"], coefficients=coefficients))
        truth.apply(record)
        if t == 2:  # the schedule halves lr and mu in the middle of the run
            for value in (5.0, 6.0):
                r = client.post(f"/v1/sessions/{sid}/metrics", json={"value": value}).json()
                mirror.report(value)
                truth.report(value)
                assert (r["lr"], r["mu"]) == (mirror.lr, mirror.mu)
    assert mirror.lr == session["lr"] / 2
    assert bits(mirror.state.x) == bits(truth.state.x) == bits(get_x(client, sid)[1])


# --- idempotency and conflicts --------------------------------------------------------------
@pytest.mark.parametrize("answer", ["x", "checksum"])
def test_a_repeated_tell_gets_the_same_answer_and_applies_once(client, answer):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, directions=2)
    sid, opt = session["id"], reference(session, x0)
    values = zo_values(opt, f)
    first = tell(client, sid, values, answer=answer)
    for _ in range(3):
        assert tell(client, sid, values, answer=answer) == first
    apply_zo(opt, values)
    step, x = get_x(client, sid)
    assert step == 1 and bits(x) == bits(opt.state.x)
    # the same tell in the other answer form describes the same step
    other = tell(client, sid, values, answer="checksum" if answer == "x" else "x")
    if answer == "x":
        assert other["checksum"] == wire.checksum(x0) and other["step"] == 1
    else:
        assert bits(np.array(other["x"], np.float32)) == bits(opt.state.x)
    # the next step goes on from the state after exactly one update
    values = zo_values(opt, f)
    tell(client, sid, values)
    apply_zo(opt, values)
    assert bits(get_x(client, sid)[1]) == bits(opt.state.x)


def test_stale_future_and_conflicting_tells_get_409_with_the_step(client):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0)
    sid, opt = session["id"], reference(session, x0)
    for _ in range(2):
        values = zo_values(opt, f)
        tell(client, sid, values)
        apply_zo(opt, values)
    stale = {"step": 0, "f_x": 1.0, "f_plus": [0.5]}
    future = {"step": 7, "f_x": 1.0, "f_plus": [0.5]}
    changed = {"step": 1, "f_x": 1.0, "f_plus": [0.5]}  # step 1 was applied with other values
    for body in (stale, future, changed):
        r = tell(client, sid, body, expect=409)
        assert r["step"] == 2
    assert bits(get_x(client, sid)[1]) == bits(opt.state.x)


def test_concurrent_identical_tells_in_one_app_apply_once(client):
    from concurrent.futures import ThreadPoolExecutor

    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, directions=2)
    sid, opt = session["id"], reference(session, x0)
    values = zo_values(opt, f)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.post(f"/v1/sessions/{sid}/tell", json=values), range(8)))
    assert [r.status_code for r in answers] == [200] * 8
    assert len({r.content for r in answers}) == 1
    apply_zo(opt, values)
    assert bits(get_x(client, sid)[1]) == bits(opt.state.x)


# --- split steps -----------------------------------------------------------------------------
def test_workers_report_parts_of_a_step(client):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, directions=4, mu=0.01)
    sid, opt = session["id"], reference(session, x0)
    full = zo_values(opt, f)
    # each worker measured its own baseline f(x): one f_x per reported direction
    baselines = [full["f_x"] + k * 1e-3 for k in range(4)]

    def part(indices):
        return {"step": 0, "indices": indices, "f_x": [baselines[i] for i in indices],
                "f_plus": [full["f_plus"][i] for i in indices]}

    r = tell(client, sid, part([2]), expect=202)
    assert r["pending"] == [0, 1, 3] and r["step"] == 0
    assert tell(client, sid, part([2]), expect=202)["pending"] == [0, 1, 3]  # a retried part
    assert tell(client, sid, part([3, 0]), expect=202)["pending"] == [1]
    assert get_x(client, sid)[0] == 0
    done = tell(client, sid, part([1]))
    opt.apply(opt.zo_record(baselines, full["f_plus"]))
    assert done["step"] == 1 and bits(np.array(done["x"], np.float32)) == bits(opt.state.x)
    # every worker's retry after the step closed gets the closing answer, and nothing moves
    for indices in ([1], [3, 0], [2]):
        assert tell(client, sid, part(indices)) == done
    step, x = get_x(client, sid)
    assert step == 1 and bits(x) == bits(opt.state.x)


def test_central_parts_of_a_step(client):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, directions=3, difference="central", distribution="gaussian")
    sid, opt = session["id"], reference(session, x0)
    full = zo_values(opt, f)
    first = {"step": 0, "indices": [1], "f_plus": full["f_plus"][1:2], "f_minus": full["f_minus"][1:2]}
    assert tell(client, sid, first, expect=202)["pending"] == [0, 2]
    rest = {"step": 0, "indices": [2, 0], "f_plus": [full["f_plus"][2], full["f_plus"][0]],
            "f_minus": [full["f_minus"][2], full["f_minus"][0]]}
    done = tell(client, sid, rest, answer="checksum")
    record = opt.zo_record(None, full["f_plus"], full["f_minus"])
    assert done["checksum"] == wire.checksum(x0)
    assert bits(np.array(done["coefficients"], np.float32)) == bits(record.coefficients)
    opt.apply(record)
    assert bits(get_x(client, sid)[1]) == bits(opt.state.x)


def test_a_conflicting_part_is_refused(client):
    session = create(client, dim=DIM, x0=x0_for(DIM), directions=3)
    sid = session["id"]
    tell(client, sid, {"step": 0, "indices": [0], "f_x": 1.0, "f_plus": [2.0]}, expect=202)
    r = tell(client, sid, {"step": 0, "indices": [0, 1], "f_x": 1.0, "f_plus": [2.5, 3.0]}, expect=409)
    assert r["step"] == 0
    r = tell(client, sid, {"step": 0, "indices": [1], "f_x": 1.0, "f_plus": [3.0]}, expect=202)
    assert r["pending"] == [2]


def test_a_part_is_a_repeat_only_with_the_values_as_first_sent(client):
    """A repeat is compared with the rows recorded before, which keep the values as sent (the
    journal's closed steps too, written by every earlier version): -0.0 is another value than
    0.0, and a central step's f_x sent once must be sent again, as docs/api.md says."""
    sid = create(client, dim=DIM, x0=x0_for(DIM), directions=3)["id"]
    first = {"step": 0, "indices": [0], "f_x": 0.0, "f_plus": [-0.0]}
    tell(client, sid, first, expect=202)
    assert tell(client, sid, first, expect=202)["pending"] == [1, 2]
    tell(client, sid, {"step": 0, "indices": [0], "f_x": 0.0, "f_plus": [0.0]}, expect=409)
    central = create(client, dim=DIM, x0=x0_for(DIM), directions=2, difference="central")["id"]
    given = {"step": 0, "indices": [0], "f_x": 1.0, "f_plus": [1.1], "f_minus": [0.9]}
    tell(client, central, given, expect=202)
    assert tell(client, central, given, expect=202)["pending"] == [1]
    tell(client, central, {"step": 0, "indices": [0], "f_plus": [1.1], "f_minus": [0.9]}, expect=409)


def test_a_metric_between_parts_keeps_them(client):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, directions=2, schedule=None)
    sid, opt = session["id"], reference(session, x0)
    full = zo_values(opt, f)
    tell(client, sid, {"step": 0, "indices": [0], "f_x": full["f_x"], "f_plus": full["f_plus"][:1]}, expect=202)
    assert client.post(f"/v1/sessions/{sid}/metrics", json={"value": 3.0}).status_code == 200
    done = tell(client, sid, {"step": 0, "indices": [1], "f_x": full["f_x"], "f_plus": full["f_plus"][1:]})
    apply_zo(opt, full)
    assert done["step"] == 1 and bits(np.array(done["x"], np.float32)) == bits(opt.state.x)


# --- the replica's cache -------------------------------------------------------------------
def test_sessions_evicted_from_the_cache_come_back_identical(make_app, serve):
    f, _ = objective(DIM)
    with serve(make_app(cache_bytes=0)) as c:  # every other session is evicted at each request
        runs = []
        for seed in (1, 2, 3):
            x0 = x0_for(DIM, seed)
            session = create(c, dim=DIM, x0=x0, directions=2, seed=seed)
            runs.append((session["id"], reference(session, x0)))
        for t in range(3):
            for sid, opt in runs:
                values = zo_values(opt, f)
                answer = tell(c, sid, values, answer="checksum" if t % 2 else "x")
                assert answer["step"] == t + 1
                apply_zo(opt, values)
        for sid, opt in runs:
            assert bits(get_x(c, sid)[1]) == bits(opt.state.x)


def test_a_large_session_steps_off_the_event_loop(client):
    from zoadamm_service.domain.offload import THREAD_MIN_WORK

    dim = THREAD_MIN_WORK  # numpy work runs on a worker thread, and checksum answers defer it
    f, _ = objective(dim)
    x0 = x0_for(dim)
    session = create(client, dim=dim, directions=2, seed=8)
    sid = session["id"]
    r = client.post(f"/v1/sessions/{sid}/ask", content=wire.encode({}, {"x": x0}), headers={"Content-Type": FRAME})
    assert r.status_code == 200
    opt = reference(session, x0)
    for _ in range(3):
        values = zo_values(opt, f)
        answer = tell(client, sid, values, answer="checksum")
        assert answer["checksum"] == wire.checksum(opt.state.x)
        apply_zo(opt, values)
    step, x = get_x(client, sid)
    assert step == 3 and bits(x) == bits(opt.state.x)


# --- metrics and the schedule ----------------------------------------------------------------
def test_metrics_drive_the_plateau_schedule(client):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    schedule = {"factor": 0.5, "patience": 1, "min_lr": 0.004, "min_mu": 1e-4, "threshold": 0.0}
    session = create(client, dim=DIM, x0=x0, lr=0.01, mu=0.001, schedule=schedule, directions=2)
    sid, opt = session["id"], reference(session, x0)
    reports = [5.0, 4.0, 4.5, 4.2, 4.1, 4.3, 4.4, 3.0]
    seen = []
    for k, value in enumerate(reports):
        values = zo_values(opt, f)
        tell(client, sid, values)
        apply_zo(opt, values)
        r = client.post(f"/v1/sessions/{sid}/metrics", json={"value": value, "metrics": {"accuracy": k / 10}})
        assert r.status_code == 200, r.text
        opt.report(value)
        body = r.json()
        entry = (body["step"], body["value"], body["lr"], body["mu"], body["accuracy"])
        assert entry == (k + 1, value, opt.lr, opt.mu, k / 10)
        seen.append((opt.lr, opt.mu))
    assert seen[0] == (0.01, 0.001) and opt.lr == schedule["min_lr"] and opt.mu < 0.001  # it did halve, to the floor
    history = client.get(f"/v1/sessions/{sid}/metrics").json()["items"]
    assert [h["value"] for h in history] == reports and [(h["lr"], h["mu"]) for h in history] == seen
    assert client.get(f"/v1/sessions/{sid}/metrics", params={"last": 2}).json()["items"] == history[-2:]
    view = client.get(f"/v1/sessions/{sid}").json()
    assert (view["lr"], view["mu"]) == (opt.lr, opt.mu) and view["recent_metrics"] == history
    # the next step uses the scheduled lr and mu
    ask = client.post(f"/v1/sessions/{sid}/ask").json()
    assert (ask["lr"], ask["mu"]) == (opt.lr, opt.mu)
    values = zo_values(opt, f)
    answer = tell(client, sid, values, answer="checksum")
    record = opt.zo_record(values["f_x"], values["f_plus"])
    assert answer["step_lr"] == opt.lr
    assert bits(np.array(answer["coefficients"], np.float32)) == bits(record.coefficients)


def test_metrics_without_a_schedule_change_nothing(client):
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0, schedule=None)
    sid = session["id"]
    for value in (1.0, 2.0, 3.0, 4.0):
        body = client.post(f"/v1/sessions/{sid}/metrics", json={"value": value}).json()
        assert (body["lr"], body["mu"]) == (session["lr"], session["mu"])

