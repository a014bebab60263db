"""What ``minimize`` continues, and what it says when it cannot: a run by name or by id continues
only a session of the same feasible set X (two spellings of one box are one X; a box is not
that box cut by a ball), a session gone from the service is said to be gone, and a run whose
service stopped answering gives up after one retry window, not two.

The sessions live on a real Redis, as the service keeps them in a deployment.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sdk_support import quadratic

from zoadamm import Client, InvalidArgument, minimize
from zoadamm.constraints import Ball, Box, FeasibleSet
from zoadamm.sdk import APIConnectionError, NotFoundError

DIM = 4
CONFIG = {"lr": 0.05, "seed": 3}
BOX_AND_BALL = FeasibleSet(box=Box(0.0, 1.0), ball=Ball("2", 0.0, 0.5))


@pytest.fixture
def on_redis(redis_url, serve):
    """A binary ``zoadamm.Client`` of a fresh app whose sessions live on the test's Redis."""
    from zoadamm_service.main import create_app
    from zoadamm_service.settings import Settings

    with serve(create_app(Settings(redis_url=redis_url, redis_timeout_s=30.0))) as test_client:
        yield Client(http_client=test_client)


def _run(client, steps: int, **kwargs):
    return minimize(quadratic(DIM), np.zeros(DIM), steps=steps, client=client, progress=False, **kwargs)


def test_a_box_does_not_continue_a_session_in_that_box_cut_by_a_ball(on_redis, caplog):
    first = _run(on_redis, 50, name="bb", resume=True, constraint=BOX_AND_BALL, **CONFIG)
    assert np.linalg.norm(first.x) == pytest.approx(0.5, rel=1e-5)  # on the ball's edge, inside the box
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        boxed = _run(on_redis, 100, name="bb", resume=True, bounds=(0.0, 1.0), **CONFIG)
    assert boxed.session_id != first.session_id and boxed.steps == 100
    assert np.linalg.norm(boxed.x) > 0.9  # the box alone lets x reach much nearer to (3, 3, 3, 3)
    assert ("constraint=box [0, 1] ∩ l2 ball of radius 0.5 about 0 (not box [0, 1])" in caplog.text), caplog.text
    again = _run(on_redis, 60, name="bb", resume=True, constraint=BOX_AND_BALL, **CONFIG)
    assert again.session_id == first.session_id and again.steps == 60


def test_a_session_id_is_refused_with_another_feasible_set(on_redis):
    first = _run(on_redis, 5, constraint=BOX_AND_BALL, **CONFIG)
    for other, said in (({"bounds": (0.0, 1.0)}, "box [0, 1]"), ({}, "none"),
                        ({"constraint": FeasibleSet(ball=Ball("2", 0.0, 0.5))}, "l2 ball of radius 0.5 about 0")):
        with pytest.raises(InvalidArgument) as refused:
            _run(on_redis, 9, session_id=first.session_id, **other, **CONFIG)
        assert f"has constraint=box [0, 1] ∩ l2 ball of radius 0.5 about 0 (not {said})" in str(refused.value)
    free = _run(on_redis, 5, **CONFIG)
    with pytest.raises(InvalidArgument, match=r"has constraint=none \(not box \[0, 1\]\)"):
        _run(on_redis, 9, session_id=free.session_id, bounds=(0.0, 1.0), **CONFIG)
    assert on_redis.sessions.get(first.session_id).step == 5  # refused before any step
    assert _run(on_redis, 7, session_id=first.session_id, constraint=BOX_AND_BALL, **CONFIG).steps == 7


@pytest.mark.parametrize("written, again", [
    ([(0.0, 1.0)] * DIM, (0.0, 1.0)),  # a vector box, continued by the numbers
    ((0.0, 1.0), [(0.0, 1.0)] * DIM),  # a box of numbers, continued by the vectors
    ((0.0, 1.0), FeasibleSet(ball=Ball("inf", 0.5, 0.5))),  # the l-inf ball that is that box
    (FeasibleSet(ball=Ball("inf", [0.5] * DIM, 0.5)), (0.0, 1.0)),  # one of vectors, continued by the box
], ids=["vectors-then-numbers", "numbers-then-vectors", "box-then-linf-ball", "linf-ball-of-vectors-then-box"])
def test_two_spellings_of_one_box_continue_one_session(on_redis, written, again):
    def spelled(x):
        return {"constraint": x} if isinstance(x, FeasibleSet) else {"bounds": x}

    first = _run(on_redis, 5, name="box", **spelled(written), **CONFIG)
    by_name = _run(on_redis, 8, name="box", resume=True, **spelled(again), **CONFIG)
    assert by_name.session_id == first.session_id and by_name.steps == 8
    by_id = _run(on_redis, 9, session_id=first.session_id, **spelled(again), **CONFIG)
    assert by_id.session_id == first.session_id and by_id.steps == 9
    assert len(on_redis.sessions.list()) == 1


@pytest.mark.parametrize("everywhere", [(None, None), [(None, None)] * DIM, (-np.inf, np.inf)],
                         ids=["none-none", "pairs-of-none", "infinities"])
def test_bounds_of_no_coordinate_are_no_set(on_redis, everywhere):
    """R^d given as bounds makes no box: such a run and one without bounds continue each other."""
    first = _run(on_redis, 4, name="free", bounds=everywhere, **CONFIG)
    assert on_redis.sessions.get(first.session_id).config.get("constraint") is None
    again = _run(on_redis, 6, name="free", resume=True, **CONFIG)
    assert again.session_id == first.session_id and again.steps == 6
    bounded = _run(on_redis, 8, name="free", resume=True, bounds=everywhere, **CONFIG)
    assert bounded.session_id == first.session_id and len(on_redis.sessions.list()) == 1


def test_the_warning_shows_the_newest_sessions_set_in_words(on_redis, caplog):
    """A list row has a set's numbers only; the warning shows the set itself, not the row's
    ``{'box': {}}``."""
    _run(on_redis, 3, name="w", bounds=[(0.0, 1.0)] * DIM, **CONFIG)
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        fresh = _run(on_redis, 3, name="w", resume=True, **CONFIG)
    assert "constraint=box [0, 1] (not none)" in caplog.text and "{'box'" not in caplog.text, caplog.text
    caplog.clear()
    ramp = (np.linspace(-1.0, 0.0, DIM), np.linspace(1.0, 2.0, DIM))
    _run(on_redis, 3, name="r", bounds=ramp, **CONFIG)
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        _run(on_redis, 3, name="r", resume=True, bounds=(None, 1.0), **CONFIG)
    assert f"constraint=a box of {DIM}-vectors (not box [-inf, 1])" in caplog.text, caplog.text
    assert fresh.steps == 3


def test_other_vectors_of_the_same_shape_are_named_as_such(on_redis):
    ramp = (np.linspace(-1.0, 0.0, DIM), [1.0] * DIM)
    first = _run(on_redis, 3, bounds=ramp, **CONFIG)
    with pytest.raises(InvalidArgument, match=rf"session {first.session_id} has a constraint with other vectors"):
        _run(on_redis, 5, session_id=first.session_id, bounds=(np.linspace(-2.0, 0.0, DIM), [1.0] * DIM), **CONFIG)


@pytest.mark.parametrize("how", ["unnamed", "named", "by-id"])
def test_a_session_gone_mid_run_is_said_to_be_gone_not_continued(on_redis, how):
    """Deleted at step 5 (as a TTL or a restart of an in-memory service loses it): the note
    says the session is gone and gives the call that starts the run over, without its id."""
    started = _run(on_redis, 1, **CONFIG) if how == "by-id" else None
    named = {"name": "gone", "resume": True} if how == "named" else {}
    by_id = {"session_id": started.session_id} if started is not None else {}

    def delete_at_5(step, x, f_x):
        if step == 5:
            on_redis.sessions.delete(on_redis.sessions.list()[0].id)

    with pytest.raises(NotFoundError) as gone:
        _run(on_redis, 20, callback=delete_at_5, **named, **by_id, **CONFIG)
    (note,) = gone.value.__notes__
    assert "is gone from the service (at step 5 of 20)" in note and "starts the run over" in note, note
    assert "continues" not in note and "session_id=" not in note, note
    assert ("name='gone'" in note) == (how == "named") and "resume" not in note, note
    assert "minimize(f, x0, client=client, callback=callback, steps=20, progress=False, " in note, note
    assert "lr=0.05, seed=3" in note, note


def test_a_session_gone_before_the_call_is_said_to_be_gone(on_redis):
    """A session_id deleted before ``minimize`` continues it: the 404 had no note at all."""
    started = _run(on_redis, 2, **CONFIG)
    on_redis.sessions.delete(started.session_id)
    with pytest.raises(NotFoundError) as gone:
        _run(on_redis, 20, session_id=started.session_id, **CONFIG)
    (note,) = gone.value.__notes__
    assert f"session {started.session_id} is gone from the service, and its steps with it" in note, note
    assert "minimize(f, x0, client=client, steps=20, progress=False, lr=0.05, seed=3) starts the run over" in note, note


def test_a_run_that_diverges_to_inf_says_it_diverged(on_redis):
    """f finite for 4 steps, then inf: the error named the value alone, not that the run ran away."""
    from zoadamm import ObjectiveError

    calls = []

    def runaway(x):
        calls.append(1)
        return float(np.sum(x**2)) if len(calls) <= 8 else float("inf")  # 2 evaluations a step

    with pytest.raises(ObjectiveError, match="the objective returned inf; the service's methods need") as caught:
        minimize(runaway, np.ones(DIM), steps=20, client=on_redis, progress=False, **CONFIG)
    diverged, where = caught.value.__notes__
    assert "f was finite at the 4 steps before (4 at the first" in diverged, diverged
    assert "the run diverged; a smaller lr (now 0.05) or more directions usually steadies it" in diverged, diverged
    assert "is at step 4 of 20" in where and "continues the run" in where, where


def test_a_run_whose_service_stops_answering_waits_one_window_only(redis_url, caplog):
    """The tell that finds no service gives up after the client's retry window; leaving the run
    asked the service again for its step, waiting a second window (a second WARNING)."""
    from zoadamm_service.launch import ServiceProcess

    service = ServiceProcess(redis_url)
    try:
        client = Client(service.start(), max_retries=0, retry_window=1.0)

        def stop_at_3(step, x, f_x):
            if step == 3:
                service.kill()

        with caplog.at_level(logging.WARNING, logger="zoadamm"), pytest.raises(APIConnectionError) as lost:
            _run(client, 50, callback=stop_at_3, **CONFIG)
    finally:
        service.stop()
    assert lost.value.step == 3
    waits = [r.getMessage() for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(waits) == 1, waits
