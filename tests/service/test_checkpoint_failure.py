"""A background checkpoint the store does not take: the steps stay in the journal, the log says
so in one line, and the task's error is taken (no "Task exception was never retrieved")."""

from __future__ import annotations

import gc
import logging

from service_support import apply_zo, objective, reference, x0_for, zo_values

from zoadamm_service.errors import StoreUnavailable

DIM = 4


def test_a_checkpoint_the_store_refuses_is_one_line_in_the_log_and_loses_nothing(make_app, serve, caplog):
    app = make_app(checkpoint_every=1)
    store = app.state.sessions.store

    async def refused(*args, **kwargs):
        raise StoreUnavailable("Redis is not answering")

    caplog.set_level(logging.WARNING)
    with serve(app) as client:
        x0 = x0_for(DIM)
        session = client.post("/v1/sessions", json={"dim": DIM, "x0": x0.tolist(), "directions": 1}).json()
        opt, f = reference(session, x0), objective(DIM)[0]
        store.save_checkpoint = refused
        try:
            for _ in range(3):
                values = zo_values(opt, f)
                assert client.post(f"/v1/sessions/{session['id']}/tell", json=values).status_code == 200
                apply_zo(opt, values)
        finally:
            del store.save_checkpoint
        answer = client.get(f"/v1/sessions/{session['id']}/x").json()
    gc.collect()  # a task whose error nobody took says so when collected
    messages = [r.getMessage() for r in caplog.records]
    assert sum("a checkpoint was not written (Redis is not answering)" in m for m in messages) == 3
    assert not any("never retrieved" in m for m in messages)
    assert answer["step"] == 3 and answer["x"] == opt.state.x.tolist()  # the journal held every step


def test_a_checkpoint_step_answered_on_its_retry_still_writes_the_checkpoint(make_app, serve):
    """The store took step 1 but the call failed (Redis answered after the call's budget): the
    retry is answered from the journal, and the checkpoint due after step 1 is written then,
    not K steps later (the journal would grow to 2K - 1 records)."""
    app = make_app(checkpoint_every=2)
    store = app.state.sessions.store
    real_append, real_save = store.append, store.save_checkpoint
    saved: list[int] = []
    lost = []

    async def taken_then_lost(session_id, seq, *args, **kwargs):
        appended = await real_append(session_id, seq, *args, **kwargs)
        if seq == 1 and not lost:
            lost.append(seq)
            raise StoreUnavailable("Redis answered after the call's budget")
        return appended

    def recording(session_id, seq, blob):
        saved.append(seq)
        return real_save(session_id, seq, blob)

    with serve(app) as client:
        x0 = x0_for(DIM)
        session = client.post("/v1/sessions", json={"dim": DIM, "x0": x0.tolist(), "directions": 1}).json()
        opt, f = reference(session, x0), objective(DIM)[0]
        store.append, store.save_checkpoint = taken_then_lost, recording
        try:
            for _ in range(2):
                values = zo_values(opt, f)
                answer = client.post(f"/v1/sessions/{session['id']}/tell", json=values)
                if answer.status_code == 503:  # the retry a client makes
                    answer = client.post(f"/v1/sessions/{session['id']}/tell", json=values)
                assert answer.status_code == 200
                apply_zo(opt, values)
        finally:
            del store.append, store.save_checkpoint
        assert lost == [1] and saved == [2]
        assert client.get(f"/v1/sessions/{session['id']}/x").json()["x"] == opt.state.x.tolist()
