"""Stateless replicas: several apps on one Redis serve one session as if they were one.

Each app is a separate ``create_app`` with its own cache and its own event loop (its own
TestClient), so what they share is only what is in Redis.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from threading import Barrier

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_support import (
    apply_values,
    apply_zo,
    bits,
    create,
    feasible_sets,
    feasible_x0,
    get_x,
    objective,
    reference,
    step_values,
    tell,
    x0_for,
    zo_values,
)

from zoadamm import METHODS, STATE_VECTORS, wire
from zoadamm.adamm import VECTORS
from zoadamm_service import keys
from zoadamm_service.domain import journal
from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings
from zoadamm_service.tenants import OPEN_TENANT

DIM = 10


@pytest.fixture
def apps(redis_url):
    """``apps(n, **settings)``: n clients, each of its own app, all on the test Redis."""
    with ExitStack() as stack:

        def start(n: int = 1, **settings):
            made = [
                stack.enter_context(TestClient(create_app(Settings(redis_url=redis_url, **settings)),
                                               raise_server_exceptions=False))
                for _ in range(n)
            ]
            return made if n > 1 else made[0]

        yield start


def test_two_replicas_alternate_and_agree(apps):
    a, b = apps(2)
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(a, dim=DIM, x0=x0, directions=3, difference="central", lr=0.05,
                     schedule={"factor": 0.5, "patience": 0})
    sid, opt = session["id"], reference(session, x0)
    for t in range(8):
        here, there = (a, b) if t % 2 else (b, a)
        values = zo_values(opt, f)
        if t % 3 == 2:  # mirror mode across replicas
            answer = tell(here, sid, values, answer="checksum")
            assert answer["checksum"] == wire.checksum(opt.state.x)
            apply_zo(opt, values)
        else:
            answer = tell(here, sid, values)
            apply_zo(opt, values)
            assert bits(np.array(answer["x"], np.float32)) == bits(opt.state.x)
        # the other replica answers a retry of the same tell with the same answer
        assert tell(there, sid, values, answer="checksum" if t % 3 == 2 else "x") == answer
        if t == 4:
            for value in (2.0, 2.0):  # no improvement: patience 0 halves lr and mu
                r = there.post(f"/v1/sessions/{sid}/metrics", json={"value": value}).json()
                opt.report(value)
                assert (r["lr"], r["mu"]) == (opt.lr, opt.mu)
        for c in (a, b):
            step, x = get_x(c, sid)
            assert step == t + 1 and bits(x) == bits(opt.state.x)
            view = c.get(f"/v1/sessions/{sid}").json()
            assert (view["step"], view["lr"], view["mu"]) == (opt.step, opt.lr, opt.mu)
    assert opt.lr < session["lr"]  # the schedule acted, and both replicas saw it


def test_a_session_deleted_on_one_replica_is_gone_from_the_others(apps):
    a, b = apps(2)
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(a, dim=DIM, x0=x0)
    sid, opt = session["id"], reference(session, x0)
    tell(b, sid, zo_values(opt, f))  # b caches it
    assert a.delete(f"/v1/sessions/{sid}").status_code == 204
    apply_zo(opt, zo_values(opt, f))
    for method, path, body in [("GET", "", None), ("GET", "/x", None), ("POST", "/ask", None),
                               ("POST", "/tell", zo_values(opt, f)), ("POST", "/metrics", {"value": 1.0})]:
        assert b.request(method, f"/v1/sessions/{sid}{path}", json=body).status_code == 404, path


def test_split_step_across_replicas(apps):
    replicas = apps(3)
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(replicas[0], dim=DIM, x0=x0, directions=3)
    sid, opt = session["id"], reference(session, x0)
    full = zo_values(opt, f)
    answers = []
    for i, c in enumerate(replicas):
        part = {"step": 0, "indices": [i], "f_x": full["f_x"], "f_plus": [full["f_plus"][i]]}
        answers.append(c.post(f"/v1/sessions/{sid}/tell", json=part))
    assert [r.status_code for r in answers] == [202, 202, 200]
    assert [r.json()["pending"] for r in answers[:2]] == [[1, 2], [2]]
    apply_zo(opt, full)
    assert bits(np.array(answers[2].json()["x"], np.float32)) == bits(opt.state.x)
    # a retried part, at a replica that never saw the step close, gets the closing answer
    part0 = {"step": 0, "indices": [0], "f_x": full["f_x"], "f_plus": [full["f_plus"][0]]}
    assert tell(replicas[0], sid, part0) == answers[2].json()


def test_a_part_with_a_lease_told_again_with_other_values_at_a_stale_replica_is_409(apps):
    """Step 0 closed at one replica; another, which last saw step 0 open, gets a part of it sent
    again with other values and a lease on the next step.  Its lease is refused (the head
    moved), so it looks: 409, where it answered 200 as if the part had closed the step; the
    same values again are the repeat they are."""
    a, b = apps(2)
    sid = create(a, dim=4, x0=np.zeros(4, np.float32), directions=4, seed=1)["id"]
    assert b.post(f"/v1/sessions/{sid}/ask").status_code == 200  # b holds the session at step 0

    def part(client, indices, f_plus, worker):
        return client.post(f"/v1/sessions/{sid}/tell?answer=checksum", json={
            "step": 0, "f_x": [1.0] * len(indices), "f_plus": f_plus, "indices": indices, "lease": 2,
            "worker": worker, "wait": 2})

    assert part(a, [0, 1], [0.5, 0.6], "w1").status_code == 202
    closed = part(a, [2, 3], [0.7, 0.8], "w2")
    assert closed.status_code == 200 and closed.json()["step"] == 1
    other = part(b, [2, 3], [7.0, 7.0], "w2")
    assert other.status_code == 409 and "step 0 is already applied" in other.json()["detail"], other.text
    assert "ask again for the open step" in other.json()["detail"]  # what the client does next
    again = part(b, [2, 3], [0.7, 0.8], "w2")
    assert again.status_code == 200 and again.json()["checksum"] == closed.json()["checksum"]


def test_a_restarted_replica_continues_with_identical_state(apps, redis_url):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    with TestClient(create_app(Settings(redis_url=redis_url))) as first:
        session = create(first, dim=DIM, x0=x0, directions=2, schedule={"factor": 0.5, "patience": 1})
        sid, opt = session["id"], reference(session, x0)
        for _ in range(5):
            values = zo_values(opt, f)
            last = tell(first, sid, values, answer="checksum")
            apply_zo(opt, values)
            for value in (1.0, 1.5):
                first.post(f"/v1/sessions/{sid}/metrics", json={"value": value})
                opt.report(value)
        view = first.get(f"/v1/sessions/{sid}").json()
        metrics = first.get(f"/v1/sessions/{sid}/metrics").json()
    # a "restart": a new app with nothing cached
    restarted = apps(1)
    assert restarted.get(f"/v1/sessions/{sid}").json() == view
    assert restarted.get(f"/v1/sessions/{sid}/metrics").json() == metrics
    assert (view["step"], view["lr"], view["mu"]) == (5, opt.lr, opt.mu) and opt.lr < session["lr"]
    step, x = get_x(restarted, sid)
    assert step == 5 and bits(x) == bits(opt.state.x)
    assert tell(restarted, sid, values, answer="checksum") == last  # the last tell, retried
    for _ in range(3):
        values = zo_values(opt, f)
        answer = tell(restarted, sid, values)
        apply_zo(opt, values)
        assert bits(np.array(answer["x"], np.float32)) == bits(opt.state.x)


def _rebuild(redis_client, sid: str, config) -> tuple[object, int, int, int]:
    """The session as Redis holds it: checkpoint plus journal, replayed here."""
    meta = redis_client.hgetall(keys.meta(sid))
    head, base = int(meta[b"head"]), int(meta[b"ckpt_seq"])
    opt, seq, _ = journal.decode_checkpoint(redis_client.get(keys.checkpoint(sid)), config)
    events = redis_client.lrange(keys.events(sid), 0, -1)
    for blob in events:
        event = journal.decode_event(blob)
        if event.kind == journal.METRIC:
            opt.report(event.value)
        else:
            opt.apply(event.record)
    return opt, head, base, len(events)


def _same_state(a, b) -> bool:
    sa, sb = a.state, b.state
    return (
        sa.step == sb.step and (a.lr, a.mu, a.plateau) == (b.lr, b.mu, b.plateau)
        and all(bits(getattr(sa, n)) == bits(getattr(sb, n)) for n in ("x", "m", "v", "v_hat"))
    )


@pytest.mark.parametrize("kind", list(feasible_sets(DIM)))
@pytest.mark.parametrize("method", METHODS)
def test_checkpoints_trim_the_journal_and_rebuild_the_same_state(redis_url, redis_client, method, kind):
    """For every method and set: the checkpoint holds the vectors the method keeps, and
    checkpoint + journal replay rebuild its state, hidden vectors too, to the bit."""
    f, grad = objective(DIM)
    constraint = feasible_sets(DIM)[kind]
    x0 = feasible_x0(constraint, DIM)
    settings = Settings(redis_url=redis_url, checkpoint_every=3)
    with TestClient(create_app(settings)) as live:
        session = create(live, dim=DIM, x0=x0, directions=2, schedule={"factor": 0.5, "patience": 0},
                         method=method, lr=0.003 if method == "zo-sgd" else 1e-3,
                         constraint=None if constraint is None else constraint.to_dict(inline=True))
        sid, opt = session["id"], reference(session, x0)
        config = opt.config
        assert config.constraint == constraint
        seq = 0
        for t in range(8):
            values = step_values(opt, f, grad)
            last = tell(live, sid, values, answer="checksum" if t % 2 else "x")
            apply_values(opt, values)
            seq += 1
            if t in (1, 4):
                live.post(f"/v1/sessions/{sid}/metrics", json={"value": 3.0 - t})
                opt.report(3.0 - t)
                seq += 1
            if t == 5:
                checkpoint_seq = seq  # step 5 closes the second window of 3 steps
        # the replica's own copy, before the app shuts down
        cached = live.portal.call(live.app.state.sessions.replicas.get, sid, OPEN_TENANT)
        live.portal.call(cached.settle)
        assert _same_state(cached.optimizer, opt)
    # shutting down waited for the checkpoint; the journal keeps only the events after it
    rebuilt, head, base, kept = _rebuild(redis_client, sid, config)
    assert (head, base, kept) == (seq, checkpoint_seq, seq - checkpoint_seq)
    held = wire.decode(redis_client.get(keys.checkpoint(sid)))[1]
    assert [name for name in held if name in VECTORS] == list(STATE_VECTORS[method])
    assert base > 0 and _same_state(rebuilt, opt)
    # and a new replica, built from checkpoint + journal, is the live one
    with TestClient(create_app(settings)) as fresh:
        step, x = get_x(fresh, sid)
        assert step == 8 and bits(x) == bits(opt.state.x)
        assert tell(fresh, sid, values, answer="checksum" if 7 % 2 else "x") == last
        cached = fresh.portal.call(fresh.app.state.sessions.replicas.get, sid, OPEN_TENANT)
        assert _same_state(cached.optimizer, opt)


def test_a_repeat_of_the_checkpointed_step_still_gets_its_answer(redis_url):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    settings = Settings(redis_url=redis_url, checkpoint_every=2)

    def told(client, values: dict, answer: str) -> dict:  # a 503 asked again, as a client would
        reply = _answered(lambda: client.post(f"/v1/sessions/{sid}/tell", json=values, params={"answer": answer}))
        assert reply.status_code == 200, reply.text
        return reply.json()

    with TestClient(create_app(settings)) as live:
        session = create(live, dim=DIM, x0=x0)
        sid, opt = session["id"], reference(session, x0)
        for _ in range(2):  # step 1 closes a window: its checkpoint drops both events
            values = zo_values(opt, f)
            answers = {a: told(live, values, a) for a in ("x", "checksum")}
            apply_zo(opt, values)
    with TestClient(create_app(settings)) as fresh:
        for a, answer in answers.items():
            assert told(fresh, values, a) == answer


# --- concurrency -----------------------------------------------------------------------------
WORKERS = 8
RETRIES_OF_503 = 5


def _answered(send):
    """``send()``, sent again while it answers 503 with Retry-After (at most ``RETRIES_OF_503``
    times): what the API tells a client to do when a call's store budget ran out."""
    reply = send()
    for _ in range(RETRIES_OF_503):
        if reply.status_code != 503 or "Retry-After" not in reply.headers:
            break
        time.sleep(0.05)
        reply = send()
    return reply


def _together(clients, request):
    """Run ``request(i, client)`` on every client at once (threads released by a barrier).  A 503
    with Retry-After is asked again, as the SDK does: on a loaded machine eight event loops in one
    process can outwait a call's store budget, which the contract lets a replica answer so."""
    barrier = Barrier(len(clients))

    def run(i):
        barrier.wait()
        return _answered(lambda: request(i, clients[i]))

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(run, range(len(clients))))


def test_concurrent_identical_tells_on_many_replicas_apply_once(apps):
    clients = apps(WORKERS)
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(clients[0], dim=DIM, x0=x0, directions=2)
    sid, opt = session["id"], reference(session, x0)
    for t in range(3):
        values = zo_values(opt, f)
        answer = "checksum" if t == 1 else "x"
        body, params = values, {"answer": answer}
        replies = _together(clients, lambda i, c, body=body, params=params: c.post(
            f"/v1/sessions/{sid}/tell", json=body, params=params))
        assert [r.status_code for r in replies] == [200] * WORKERS
        assert len({r.content for r in replies}) == 1
        apply_zo(opt, values)
    for c in clients:
        step, x = get_x(c, sid)
        assert step == 3 and bits(x) == bits(opt.state.x)


def test_concurrent_different_tells_on_many_replicas_let_one_win(apps):
    clients = apps(WORKERS)
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(clients[0], dim=DIM, x0=x0, directions=2)
    sid, opt = session["id"], reference(session, x0)
    base = zo_values(opt, f)
    # each worker reports slightly different values for step 0
    bodies = [{**base, "f_x": base["f_x"] + i * 1e-3} for i in range(WORKERS)]
    replies = _together(clients, lambda i, c: c.post(f"/v1/sessions/{sid}/tell", json=bodies[i]))
    codes = [r.status_code for r in replies]
    assert sorted(codes) == [200] + [409] * (WORKERS - 1)
    assert all(r.json()["step"] == 1 for r in replies)
    winner = codes.index(200)
    apply_zo(opt, bodies[winner])  # the serial replay of what was applied
    assert bits(np.array(replies[winner].json()["x"], np.float32)) == bits(opt.state.x)
    for c in clients:
        step, x = get_x(c, sid)
        assert step == 1 and bits(x) == bits(opt.state.x)


def test_concurrent_parts_from_many_replicas_close_the_step_once(apps):
    clients = apps(WORKERS)
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(clients[0], dim=DIM, x0=x0, directions=WORKERS, mu=0.01)
    sid, opt = session["id"], reference(session, x0)
    full = zo_values(opt, f)
    parts = [{"step": 0, "indices": [i], "f_x": full["f_x"], "f_plus": [full["f_plus"][i]]} for i in range(WORKERS)]
    replies = _together(clients, lambda i, c: c.post(f"/v1/sessions/{sid}/tell", json=parts[i]))
    codes = [r.status_code for r in replies]
    assert set(codes) <= {200, 202} and 200 in codes
    closing = {r.content for r in replies if r.status_code == 200}
    assert len(closing) == 1  # whoever saw the step close got the same answer
    apply_zo(opt, full)
    for c in clients:
        step, x = get_x(c, sid)
        assert step == 1 and bits(x) == bits(opt.state.x)
    # every worker's retry now gets the closing answer
    retries = _together(clients, lambda i, c: c.post(f"/v1/sessions/{sid}/tell", json=parts[i]))
    assert {r.status_code for r in retries} == {200} and {r.content for r in retries} == closing


def test_concurrent_metrics_and_tells_lose_nothing(apps):
    """Metrics from some replicas while others tell: every metric and every step lands once."""
    clients = apps(4)
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(clients[0], dim=DIM, x0=x0, schedule=None)
    sid, opt = session["id"], reference(session, x0)
    values = zo_values(opt, f)

    def request(i, c):
        if i % 2:
            return c.post(f"/v1/sessions/{sid}/metrics", json={"value": float(i)})
        return c.post(f"/v1/sessions/{sid}/tell", json=values)

    replies = _together(clients, request)
    assert [r.status_code for r in replies] == [200] * 4
    apply_zo(opt, values)
    assert bits(get_x(clients[0], sid)[1]) == bits(opt.state.x)
    assert sorted(m["value"] for m in clients[1].get(f"/v1/sessions/{sid}/metrics").json()["items"]) == [1.0, 3.0]


def tell_step(client: TestClient, sid: str, step: int):
    return client.post(f"/v1/sessions/{sid}/tell", json={"step": step, "f_x": 1.0, "f_plus": [0.5]})


def made_anew(one: TestClient, two: TestClient, key: str) -> str:
    """A session made by ``one`` and stepped by ``two`` (which keeps its copy), deleted once its
    Idempotency-Key's record expired, and made anew by ``one`` with the key (the same id) and
    other settings, then stepped there.  Its id."""
    sid = one.post("/v1/sessions", json={"dim": 3, "x0": [0.0] * 3, "seed": 1, "lr": 0.1},
                   headers={"Idempotency-Key": key}).json()["id"]
    assert [tell_step(two, sid, step).status_code for step in range(3)] == [200] * 3
    time.sleep(1.5)  # the key's record expires (ZOADAMM_IDEMPOTENCY_TTL_S = 1)
    assert one.delete(f"/v1/sessions/{sid}").status_code == 204
    new = one.post("/v1/sessions", json={"dim": 3, "x0": [5.0] * 3, "seed": 2, "lr": 0.5},
                   headers={"Idempotency-Key": key})
    assert new.status_code == 201 and new.json()["id"] == sid
    assert [tell_step(one, sid, step).status_code for step in range(3)] == [200] * 3
    return sid


def test_a_session_made_anew_under_its_id_is_not_served_from_another_replicas_old_copy(redis_url):
    """A create's id follows from its Idempotency-Key: once the key's record expired and the
    session was deleted, the same key makes a new session under the same id.  A replica that
    still holds the old one must not answer from it, nor append steps built from it."""
    settings = Settings(redis_url=redis_url, idempotency_ttl_s=1)
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        sid = made_anew(one, two, "the-same-key")

        def answered(call):  # a replica that finds its copy stale says so once (503), then reads anew
            answer = call()
            if answer.status_code == 503:
                assert "made anew" in answer.json()["detail"] and answer.headers["Retry-After"]
                answer = call()
            assert answer.status_code == 200, answer.text
            return answer.json()

        assert answered(lambda: two.get(f"/v1/sessions/{sid}/x")) == one.get(f"/v1/sessions/{sid}/x").json()
        assert answered(lambda: two.get(f"/v1/sessions/{sid}"))["config"]["lr"] == 0.5
        told = answered(lambda: tell_step(two, sid, 3))  # on the new session's copy
        assert told["x"] == one.get(f"/v1/sessions/{sid}/x").json()["x"]


def test_a_stale_copy_is_refused_by_the_append_itself(redis_url):
    """The tell of a replica whose copy is of a session since made anew, with no read before it
    (the tell's own path reads nothing but the append's reply): nothing is appended."""
    settings = Settings(redis_url=redis_url, idempotency_ttl_s=1)
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        sid = made_anew(one, two, "the-same-key-2")
        stale = tell_step(two, sid, 3)
        assert stale.status_code == 503 and "made anew" in stale.json()["detail"], stale.text
        assert one.get(f"/v1/sessions/{sid}").json()["step"] == 3  # nothing appended
        again = tell_step(two, sid, 3)
        assert again.status_code == 200, again.text
        assert again.json()["x"] == one.get(f"/v1/sessions/{sid}/x").json()["x"]


def lost_writes(redis_client, session_id: str):
    """The session's keys as they are now; calling the result puts them back, as a Redis that
    lost the writes since (a crash between snapshots, a failover to a replica behind) would."""
    saved = {k: redis_client.dump(k) for k in keys.all_for(session_id) if redis_client.exists(k)}

    def restore() -> None:
        redis_client.delete(*keys.all_for(session_id))
        for key, value in saved.items():
            redis_client.restore(key, 0, value)

    return restore


def steps(client, sid: str, opt, f, n: int) -> list[dict]:
    """``n`` steps told to ``client``, each applied to ``opt``; their values."""
    told = []
    for _ in range(n):
        told.append(values := zo_values(opt, f))
        tell(client, sid, values)
        apply_zo(opt, values)
    return told


def test_a_replica_holding_steps_redis_lost_never_takes_as_many_others_for_them(apps, redis_client):
    """Steps 3 to 7 told to replica a were lost by Redis, and b took five others: a held a copy
    with the store's step count, answered its own x to reads, and appended step 8 to it."""
    a, b = apps(2)
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(a, dim=DIM, x0=x0, directions=2, schedule=None)
    sid, ours, theirs = session["id"], reference(session, x0), reference(session, x0)
    for values in steps(a, sid, ours, f, 3):
        apply_zo(theirs, values)
    restore = lost_writes(redis_client, sid)
    steps(a, sid, ours, f, 5)
    restore()
    steps(b, sid, theirs, lambda x: 2 * f(x) + 1, 5)
    assert bits(ours.state.x) != bits(theirs.state.x)
    for client in (a, b):
        step, x = get_x(client, sid)
        assert step == 8 and bits(x) == bits(theirs.state.x)
    values = zo_values(theirs, f)
    answer = tell(a, sid, values)
    apply_zo(theirs, values)
    assert bits(np.array(answer["x"], np.float32)) == bits(theirs.state.x)
    assert tell(b, sid, values) == answer  # a repeat, the same answer on either replica


def test_a_replica_holding_steps_redis_lost_keeps_no_checkpoint_of_them(apps, redis_client):
    """A repeat of a lost step's tell, due a checkpoint, wrote the copy that held it as the
    session's checkpoint over the store's own history: every replica then read that."""
    a, b = apps(2, checkpoint_every=4)
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(a, dim=DIM, x0=x0, directions=2, schedule=None)
    sid, ours, theirs = session["id"], reference(session, x0), reference(session, x0)
    for values in steps(a, sid, ours, f, 5):  # a checkpoint after step 3, kept
        apply_zo(theirs, values)
    restore = lost_writes(redis_client, sid)
    lost = steps(a, sid, ours, f, 3)
    restore()
    steps(b, sid, theirs, lambda x: 2 * f(x) + 1, 2)
    assert b.post(f"/v1/sessions/{sid}/metrics", json={"value": 1.0}).status_code == 200
    theirs.report(1.0)  # the store's head is 8 events again, as a's copy
    answer = tell(a, sid, lost[-1])  # step 7 is the open step of the store's history: taken there
    apply_zo(theirs, lost[-1])
    assert bits(np.array(answer["x"], np.float32)) == bits(theirs.state.x)
    fresh = apps(1, checkpoint_every=4)  # reads the checkpoint and the events after it
    assert bits(get_x(fresh, sid)[1]) == bits(theirs.state.x)
