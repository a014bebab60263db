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
