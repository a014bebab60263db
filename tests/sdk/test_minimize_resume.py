"""``minimize`` stopped by Ctrl-C and continued: the interrupt names the session and the call
that continues it, ``name=..., resume=True`` finds the session again (or creates it), and the
continued run ends exactly where an uninterrupted one does.

Ctrl-C is a KeyboardInterrupt raised inside ``f``, where it lands in a real run (``f`` is where a
run spends its time); the last test sends a real SIGINT to a real program.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sdk_support import bits, quadratic, x0_for

from zoadamm import Client, InvalidArgument, RemoteOptimizer, minimize
from zoadamm.sdk import ConflictError
from zoadamm.sdk.minimize import Interrupted
from zoadamm_service.launch import local_service

DIM, STEPS = 8, 60
CONFIG = {"lr": 0.05, "directions": 2, "seed": 11}


def interrupted_at(f, evaluation: int):
    """``f``, until its ``evaluation``-th call, which raises KeyboardInterrupt instead."""
    calls = 0

    def g(x):
        nonlocal calls
        calls += 1
        if calls == evaluation:
            raise KeyboardInterrupt
        return f(x)

    return g


@pytest.mark.parametrize("mode", [{}, {"mirror": True, "pipeline": True}], ids=["plain", "pipeline"])
def test_a_run_continued_by_name_ends_where_an_uninterrupted_one_does(local, mode):
    f = quadratic(DIM)
    whole = minimize(f, x0_for(DIM), steps=STEPS, client=local, progress=False, name="whole", **mode, **CONFIG)

    evaluations_per_step = 1 + CONFIG["directions"]
    with pytest.raises(Interrupted) as stop:
        minimize(interrupted_at(f, 25 * evaluations_per_step + 2), x0_for(DIM), steps=STEPS, client=local,
                 progress=False, name="rosen", resume=True, **mode, **CONFIG)
    assert stop.value.step == 25  # every step told before the interrupt is kept, none after
    assert local.sessions.get(stop.value.session_id).step == 25
    assert isinstance(stop.value, KeyboardInterrupt) and isinstance(stop.value, SystemExit)
    message = str(stop.value)
    assert "\n" not in message and f"session {stop.value.session_id}" in message and "step 25 of 60" in message
    assert "minimize(f, x0, client=client, steps=60, " in message and "name='rosen', resume=True" in message
    assert "lr=0.05, directions=2, seed=11" in message

    again = minimize(f, x0_for(DIM), steps=STEPS, client=local, progress=False, name="rosen", resume=True,
                     **mode, **CONFIG)
    assert again.session_id == stop.value.session_id and again.steps == STEPS
    assert len(again.history) == STEPS - 25
    assert again.evaluations == whole.evaluations  # the earlier call's steps count too, as in steps
    assert bits(again.x) == bits(whole.x) and again.fun == whole.fun


def test_the_call_that_continues_a_run_keeps_the_options_it_was_given(local, capsys):
    """The call an interrupt suggests carries progress=False and the callback, as it does steps,
    report_every and the settings: run as written, it continues the run without a progress bar,
    calling the callback."""
    import re

    f = quadratic(DIM)
    seen: list[int] = []

    def callback(step, x, f_x) -> None:
        seen.append(step)

    x0 = x0_for(DIM)
    with pytest.raises(Interrupted) as stop:
        minimize(interrupted_at(f, 5 * (1 + CONFIG["directions"]) + 2), x0, steps=20, client=local, progress=False,
                 callback=callback, name="kept", resume=True, report_every=10, **CONFIG)
    (call,) = re.findall(r"and (minimize\(.*\)) continues the run", str(stop.value))
    assert call == ("minimize(f, x0, client=client, callback=callback, steps=20, progress=False, report_every=10, "
                    "name='kept', resume=True, lr=0.05, directions=2, seed=11)")
    assert seen == [1, 2, 3, 4, 5]
    capsys.readouterr()
    result = eval(call, {"minimize": minimize, "f": f, "x0": x0, "client": local, "callback": callback})
    assert result.session_id == stop.value.session_id and result.steps == 20
    assert seen == list(range(1, 21))
    assert capsys.readouterr().err == ""  # no progress lines: progress=False came along


def test_a_run_continued_past_its_steps_says_that_no_step_was_taken(local, caplog):
    f = quadratic(DIM)
    done = minimize(f, x0_for(DIM), steps=10, client=local, progress=False, name="short", **CONFIG)
    with caplog.at_level("WARNING", logger="zoadamm"):
        again = minimize(f, x0_for(DIM), steps=5, client=local, progress=False, name="short", resume=True, **CONFIG)
    assert again.steps == 10 and again.history == [] and bits(again.x) == bits(done.x)
    assert f"session {done.session_id} is already at step 10, not below steps=5: no step taken" in caplog.text


def test_an_unnamed_run_is_continued_by_its_session_id(local):
    f = quadratic(DIM)
    with pytest.raises(Interrupted) as stop:
        minimize(interrupted_at(f, 10), x0_for(DIM), steps=STEPS, client=local, progress=False, **CONFIG)
    session_id = stop.value.session_id
    assert f"session_id='{session_id}'" in str(stop.value) and "resume" not in str(stop.value)
    again = minimize(f, x0_for(DIM), steps=STEPS, client=local, progress=False, session_id=session_id, **CONFIG)
    assert again.session_id == session_id and again.steps == STEPS


def test_resume_creates_the_session_when_there_is_none_and_then_finds_it(local, caplog):
    f = quadratic(DIM)
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        first = minimize(f, x0_for(DIM), steps=20, client=local, progress=False, name="once", resume=True, **CONFIG)
    assert local.sessions.get(first.session_id).name == "once" and first.steps == 20
    # said: a run meant to continue (its service lost its store) is seen to start over
    assert "no session named 'once' to continue: starting a new one from x0" in caplog.text
    done = minimize(f, x0_for(DIM), steps=20, client=local, progress=False, name="once", resume=True, **CONFIG)
    assert done.session_id == first.session_id and done.history == [] and bits(done.x) == bits(first.x)
    longer = minimize(f, x0_for(DIM), steps=30, client=local, progress=False, name="once", resume=True, **CONFIG)
    assert longer.session_id == first.session_id and longer.steps == 30 and len(longer.history) == 10
    assert len(local.sessions.list()) == 1


def test_resume_takes_the_newest_session_of_that_name_and_settings(local, caplog):
    f = quadratic(DIM)
    older = minimize(f, x0_for(DIM), steps=5, client=local, progress=False, name="same", **CONFIG)
    newer = minimize(f, x0_for(DIM), steps=5, client=local, progress=False, name="same", **CONFIG)
    other_lr = minimize(f, x0_for(DIM), steps=5, client=local, progress=False, name="same", **{**CONFIG, "lr": 0.01})
    found = minimize(f, x0_for(DIM), steps=8, client=local, progress=False, name="same", resume=True, **CONFIG)
    assert found.session_id == newer.session_id != older.session_id
    assert local.sessions.get(other_lr.session_id).step == 5

    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        fresh = minimize(f, x0_for(DIM), steps=3, client=local, progress=False, name="same", resume=True,
                         **{**CONFIG, "lr": 0.2})
    assert fresh.session_id not in {older.session_id, newer.session_id, other_lr.session_id}
    assert "no session named 'same' has these settings" in caplog.text and "lr=0.01 (not 0.2)" in caplog.text
    other_d = minimize(quadratic(DIM + 1), x0_for(DIM + 1), steps=3, client=local, progress=False, name="same",
                       resume=True, **CONFIG)
    assert other_d.session_id not in {older.session_id, newer.session_id}


def test_a_schedule_given_in_part_still_finds_its_session(local):
    f, schedule = quadratic(DIM), {"patience": 1}
    first = minimize(f, x0_for(DIM), steps=4, client=local, progress=False, name="s", schedule=schedule, **CONFIG)
    again = minimize(f, x0_for(DIM), steps=6, client=local, progress=False, name="s", resume=True, schedule=schedule,
                     **CONFIG)
    assert again.session_id == first.session_id and again.steps == 6


def test_vector_bounds_are_compared_whole(local, caplog):
    """A list row carries a set's JSON part only: bounds given as vectors are compared on the
    session itself, so other vectors start a new run (resume) or are refused (session_id)."""
    f, x0 = quadratic(DIM), x0_for(DIM) * 0
    box = ([-1.0] * DIM, [1.0] * DIM)
    first = minimize(f, x0, steps=3, client=local, progress=False, name="vec", bounds=box, **CONFIG)
    again = minimize(f, x0, steps=5, client=local, progress=False, name="vec", resume=True, bounds=box, **CONFIG)
    assert again.session_id == first.session_id
    other = ([-5.0] * DIM, [0.5] * DIM)
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        fresh = minimize(f, x0, steps=2, client=local, progress=False, name="vec", resume=True, bounds=other, **CONFIG)
    assert fresh.session_id != first.session_id
    assert "the newest with these settings" in caplog.text
    assert "constraint=box [-1, 1] (not box [-5, 0.5])" in caplog.text
    with pytest.raises(InvalidArgument, match=rf"session {first.session_id} has constraint=box \[-1, 1\] "
                       r"\(not box \[-5, 0.5\]\)"):
        minimize(f, x0, steps=9, client=local, session_id=first.session_id, bounds=other, **CONFIG)
    ramp = (np.linspace(-1.0, -0.5, DIM), [1.0] * DIM)  # another vector: said as such, not as its values
    with pytest.raises(InvalidArgument, match=rf"session {first.session_id} has constraint=box \[-1, 1\] "
                       rf"\(not box \[\({DIM} values\), 1\]\)"):
        minimize(f, x0, steps=9, client=local, session_id=first.session_id, bounds=ramp, **CONFIG)
    assert local.sessions.get(first.session_id).step == 5


@pytest.mark.parametrize("constraint", [
    {"ball": {"norm": "2", "center": 0.1, "radius": 1.5}},  # 0.1 is held as float32's 0.10000000149...
    {"box": {"lower": [-0.3] * DIM, "upper": 1.0}},  # a vector inline
], ids=["ball", "inline-vector-box"])
def test_a_constraint_given_as_a_dict_continues_its_run(local, constraint):
    """A set given as the create body's dict is compared as the session holds it (float32, bounds
    rounded inward, vectors apart): resume found no session and started anew, session_id was
    refused; and the interrupt's continuing call names a set with vectors rather than writing
    its JSON part, which alone would not make the set."""
    f, x0 = quadratic(DIM), x0_for(DIM) * 0
    with pytest.raises(Interrupted) as stop:
        minimize(interrupted_at(f, 10), x0, steps=STEPS, client=local, progress=False, name="dict", resume=True,
                 constraint=constraint, **CONFIG)
    message = str(stop.value)
    assert ("constraint=constraint" in message) == ("box" in constraint), message
    again = minimize(f, x0, steps=8, client=local, progress=False, name="dict", resume=True, constraint=constraint,
                     **CONFIG)
    assert again.session_id == stop.value.session_id
    by_id = minimize(f, x0, steps=9, client=local, progress=False, session_id=again.session_id,
                     constraint=constraint, **CONFIG)
    assert by_id.session_id == again.session_id and by_id.steps == 9


def test_the_interrupt_names_the_bounds_it_was_given(local):
    f, x0 = quadratic(DIM), x0_for(DIM) * 0
    with pytest.raises(Interrupted) as stop:
        minimize(interrupted_at(f, 10), x0, steps=STEPS, client=local, progress=False, name="b", resume=True,
                 bounds=([-1.0] * DIM, [1.0] * DIM), **CONFIG)
    assert "bounds=bounds" in str(stop.value) and "constraint=" not in str(stop.value)


def test_resume_needs_a_name_and_a_session_id_must_agree(local):
    f = quadratic(DIM)
    with pytest.raises(InvalidArgument, match="resume=True finds a session by its name: give name= too"):
        minimize(f, x0_for(DIM), steps=3, client=local, resume=True, **CONFIG)
    run = minimize(f, x0_for(DIM), steps=3, client=local, progress=False, **CONFIG)
    with pytest.raises(InvalidArgument, match=rf"session {run.session_id} has dim=8 \(not 9\)"):
        minimize(f, x0_for(DIM + 1), steps=5, client=local, session_id=run.session_id, **CONFIG)
    with pytest.raises(InvalidArgument, match=r"has lr=0.05 \(not 0.5\)"):
        minimize(f, x0_for(DIM), steps=5, client=local, session_id=run.session_id, **{**CONFIG, "lr": 0.5})
    assert local.sessions.get(run.session_id).step == 3  # refused before any step
    made = len(local.sessions.list())
    with pytest.raises(InvalidArgument, match="minimize evaluates f, so it drives the zo-\\* methods; 'adamm'"):
        minimize(f, x0_for(DIM), steps=3, client=local, method="adamm", bounds=(-1, 1))
    assert len(local.sessions.list()) == made  # refused before any session was made


def test_ctrl_c_ends_a_program_with_one_line_and_no_traceback(tmp_path):
    """A real SIGINT, in a program that does not catch it, on a real service over HTTP."""
    program = tmp_path / "rosen.py"
    program.write_text(textwrap.dedent("""
        import os, signal, sys
        import numpy as np
        import zoadamm

        calls = 0
        def f(x):
            global calls
            calls += 1
            if calls == 31:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while f runs
            return float(np.sum((x - 3.0) ** 2))

        zoadamm.minimize(f, np.zeros(5), steps=500, base_url=sys.argv[1], name="rosen50", resume=True,
                         lr=0.05, seed=1, progress=False)
        print("not reached")
    """))
    with local_service() as url:
        # SIGINT as a terminal delivers it, even when the suite runs as a background job (whose
        # shell starts it with SIGINT ignored, which Python keeps)
        done = subprocess.run([sys.executable, str(program), url], capture_output=True, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        assert done.returncode == 1 and done.stdout == ""
        assert "Traceback" not in done.stderr
        # the first run of a resume=True program says it starts anew, then the interruption's line
        said, line = done.stderr.strip().splitlines()
        assert said == "no session named 'rosen50' to continue: starting a new one from x0"
        assert line.startswith("zoadamm.minimize: interrupted at step 15 of 500 (session ")
        assert (f"minimize(f, x0, steps=500, progress=False, base_url='{url}', name='rosen50', resume=True, lr=0.05, "
                "seed=1) continues the run") in line



def test_ctrl_c_at_an_interactive_prompt_returns_to_it(tmp_path):
    """At the REPL, the interruption was a SystemExit too, which ends the interpreter: the
    user's variables went with it.  There it is a KeyboardInterrupt only, back at the prompt."""
    lines = textwrap.dedent("""
        import os, signal, sys
        import numpy as np
        import zoadamm
        kept = 42
        calls = 0
        def f(x):
            global calls
            calls += 1
            if calls == 31:
                os.kill(os.getpid(), signal.SIGINT)
            return float(np.sum((x - 3.0) ** 2))

        zoadamm.minimize(f, np.zeros(5), steps=500, base_url=sys.argv[1], name="at-prompt", lr=0.05, progress=False)
        print("back at the prompt", kept, sys.last_value.step, isinstance(sys.last_value, SystemExit))
    """)
    with local_service() as url:
        done = subprocess.run([sys.executable, "-i", "-", url], input=lines, capture_output=True, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.returncode == 0, done.stderr
    assert "back at the prompt 42 15 False" in done.stdout, (done.stdout, done.stderr)
    assert "zoadamm.sdk.interrupted.Interrupted: zoadamm.minimize: interrupted at step 15 of 500" in done.stderr

def test_the_calls_own_arguments_are_checked_before_a_session_is_made(local):
    f = quadratic(DIM)
    for bad, named in (({"steps": 0}, "steps"), ({"steps": -5}, "steps"), ({"steps": "10"}, "steps"),
                       ({"report_every": -1}, "report_every"), ({"callback": 5}, "callback"),
                       ({"client": "http://127.0.0.1:8000"}, "client")):
        kwargs = {"steps": 5, "client": local, "progress": False, **bad}
        with pytest.raises(InvalidArgument, match=named):
            minimize(f, x0_for(DIM), **kwargs)
    assert local.sessions.list() == []


def test_a_new_run_that_fails_before_its_first_step_leaves_no_session(local):
    """f raises at x0, or returns garbage there: the session this call made has nothing in it,
    and is gone; the same failure at a later step, or in a run by name with resume=True (which
    the next call finds), keeps the session."""
    f = quadratic(DIM)

    def broken(x):
        raise RuntimeError("the simulator crashed")

    with pytest.raises(RuntimeError, match="simulator crashed"):
        minimize(broken, x0_for(DIM), steps=5, client=local, progress=False, **CONFIG)
    with pytest.raises(ValueError, match="one number"):
        minimize(lambda x: "nan", x0_for(DIM), steps=5, client=local, progress=False, **CONFIG)
    assert local.sessions.list() == []

    with pytest.raises(RuntimeError, match="simulator crashed"):
        minimize(broken, x0_for(DIM), steps=5, client=local, progress=False, name="kept", resume=True, **CONFIG)
    late = {"calls": 0}

    def breaks_later(x):
        late["calls"] += 1
        if late["calls"] > 4 * (1 + CONFIG["directions"]):
            raise RuntimeError("the simulator crashed")
        return f(x)

    with pytest.raises(RuntimeError):
        minimize(breaks_later, x0_for(DIM), steps=50, client=local, progress=False, **CONFIG)
    kept = {(s.name, local.sessions.get(s.id).step) for s in local.sessions.list()}
    assert kept == {("kept", 0), (None, 4)}


def test_a_lost_service_says_where_the_run_stands_and_what_continues_it(redis_url):
    """The service went away at step 12 (killed): the error names the session and its step and
    the call that continues the run, where it advised starting a service; a service started
    again on the same Redis continues it to the end, bit for bit with an unbroken run."""
    from zoadamm.sdk import APIConnectionError
    from zoadamm_service.launch import ServiceProcess

    f = quadratic(DIM)
    service = ServiceProcess(redis_url).__enter__()
    try:
        client = Client(service.url, max_retries=1)

        def lose_it(step, x, f_x):
            if step == 12:
                service.kill()

        with pytest.raises(APIConnectionError) as lost:
            minimize(f, x0_for(DIM), steps=STEPS, client=client, progress=False, name="lost", resume=True,
                     callback=lose_it, **CONFIG)
        message = str(lost.value)
        assert (lost.value.step, lost.value.session_id) == (12, message.split("(session ")[1].split(")")[0])
        assert "name='lost', resume=True" in message and "continues the run" in message
        assert "Start one" not in message
    finally:
        service.stop()
    with ServiceProcess(redis_url) as again, Client(again.url) as client:
        done = minimize(f, x0_for(DIM), steps=STEPS, client=client, progress=False, name="lost", resume=True,
                        **CONFIG)
        whole = minimize(f, x0_for(DIM), steps=STEPS, client=client, progress=False, name="whole", **CONFIG)
    assert done.session_id == lost.value.session_id and bits(done.x) == bits(whole.x)


@pytest.mark.parametrize("mode", [{}, {"mirror": True, "pipeline": True}], ids=["plain", "pipeline"])
def test_ctrl_c_between_a_tell_and_its_report_keeps_both(local, mode, monkeypatch):
    """A real SIGINT that lands right after the tell of a step whose report is due: the report
    still goes out before the run stops, so the run continued from there takes the schedule's
    decisions an unbroken run takes, and ends at its bits."""
    import os

    f, config = quadratic(DIM), {**CONFIG, "schedule": {"patience": 0}}
    whole = minimize(f, x0_for(DIM), steps=STEPS, client=local, progress=False, report_every=2, **mode, **config)
    tell = RemoteOptimizer.tell

    def interrupted_after_step_10(run, *args, **kwargs):
        answer = tell(run, *args, **kwargs)
        if run.step == 10:
            os.kill(os.getpid(), signal.SIGINT)
        return answer

    monkeypatch.setattr(RemoteOptimizer, "tell", interrupted_after_step_10)
    with pytest.raises(Interrupted) as stop:
        minimize(f, x0_for(DIM), steps=STEPS, client=local, progress=False, report_every=2, name="cut", resume=True,
                 **mode, **config)
    monkeypatch.undo()
    assert stop.value.step == 10
    assert [h["step"] for h in local.sessions.history(stop.value.session_id)] == [2, 4, 6, 8, 10]
    again = minimize(f, x0_for(DIM), steps=STEPS, client=local, progress=False, report_every=2, name="cut",
                     resume=True, **mode, **config)
    assert again.session_id == stop.value.session_id and bits(again.x) == bits(whole.x)


def test_an_error_in_f_after_some_steps_says_which_session_continues_the_run(local):
    f, calls = quadratic(DIM), {"n": 0}

    def fails_later(x):
        calls["n"] += 1
        if calls["n"] > 5 * (1 + CONFIG["directions"]):
            raise RuntimeError("the simulator crashed")
        return f(x)

    with pytest.raises(RuntimeError) as failed:
        minimize(fails_later, x0_for(DIM), steps=STEPS, client=local, progress=False, **CONFIG)
    (note,) = failed.value.__notes__
    (session,) = local.sessions.list()
    assert f"session {session.id} is at step 5 of {STEPS}" in note
    assert f"session_id='{session.id}'" in note and "continues the run" in note


def test_a_run_without_bounds_does_not_resume_one_in_a_box(local, caplog):
    """By name, the feasible set is part of the problem: none given is R^d, not any set."""
    f = quadratic(DIM)
    boxed = minimize(f, x0_for(DIM), steps=4, client=local, progress=False, name="b", bounds=(-10.0, 10.0), **CONFIG)
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        free = minimize(f, x0_for(DIM), steps=4, client=local, progress=False, name="b", resume=True, **CONFIG)
    assert free.session_id != boxed.session_id and "constraint=" in caplog.text
    again = minimize(f, x0_for(DIM), steps=6, client=local, progress=False, name="b", resume=True, **CONFIG)
    assert again.session_id == free.session_id  # the newest without a set
    boxed_again = minimize(f, x0_for(DIM), steps=6, client=local, progress=False, name="b", resume=True,
                           bounds=(-10.0, 10.0), **CONFIG)
    assert boxed_again.session_id == boxed.session_id


def test_a_step_told_by_another_client_meanwhile_is_named_as_the_cause(local):
    """Two programs driving one session: the one whose tell comes second got a 409 and a note
    that its own call continues the run, which only made the race again."""
    f = quadratic(DIM)
    first = minimize(f, x0_for(DIM), steps=3, client=local, progress=False, **CONFIG)
    calls = 0

    def raced(x):  # the other program tells the open step while this one evaluates
        nonlocal calls
        calls += 1
        if calls == 2:
            step = local.sessions.ask(first.session_id).step
            local.sessions.tell(first.session_id, step, f_x=1.0, f_plus=[2.0] * CONFIG["directions"])
        return f(x)

    with pytest.raises(ConflictError) as raced_out:
        minimize(raced, x0_for(DIM), steps=10, client=local, progress=False, session_id=first.session_id, **CONFIG)
    (note,) = raced_out.value.__notes__
    assert f"session {first.session_id} is at step 4 of 10; another client tells this session's steps too" in note
