"""RemoteOptimizer in its three modes, and minimize(), against the app in process.

Plain (x in every answer), mirror (a local optimizer checked by checksum) and mirror+pipeline
(the tell travels while the next step is evaluated) must walk the very same float32 path as
``zoadamm.Optimizer`` run here, also when the plateau schedule changes lr and mu mid-run, and
must recover that path when the mirror is contradicted.
"""

from __future__ import annotations

import re
import threading

import httpx
import numpy as np
import pytest
from objectives import feasible_sets, feasible_x0, quadratic_with_gradient
from sdk_support import bits, drive, quadratic, reference_run, rosenbrock, through, x0_for, zo_values

from zoadamm import (
    METHODS,
    Ball,
    Box,
    Client,
    FeasibleSet,
    InvalidArgument,
    Optimizer,
    RemoteOptimizer,
    SessionConfig,
    directions,
    minimize,
)
from zoadamm.sdk import fast_switching
from zoadamm.sdk.bounds import box_of

DIM = 16
MODES = {"plain": {}, "mirror": {"mirror": True}, "pipeline": {"mirror": True, "pipeline": True}}


def _config(**overrides) -> dict:
    return {"lr": 0.05, "mu": 1e-3, "directions": 2, "seed": 2024, **overrides}


def _tell_answers(requests: list, session_id: str) -> list[str]:
    return [r.url.params["answer"] for r in requests if r.url.path == f"/v1/sessions/{session_id}/tell"]


def test_three_modes_walk_the_same_path_through_schedule_changes(make_app, serve):
    steps, every = 90, 6
    # a demanding threshold: most reports count as a plateau, so lr and mu fall several times
    config = _config(schedule={"patience": 1, "threshold": 0.3, "factor": 0.5})
    f = quadratic(DIM)
    x0 = x0_for(DIM)
    expected, trajectory, rates = reference_run(
        SessionConfig.from_dict({"dim": DIM, **config}), x0, f, steps, report_every=every
    )
    assert len(set(rates)) >= 3, "the schedule should change lr more than once in this run"
    assert expected.mu < config["mu"]
    assert f(expected.state.x) < 0.5 * f(x0)

    requests = []
    with serve(make_app()) as test_client:
        test_client.event_hooks["request"].append(requests.append)
        sdk = Client(http_client=test_client)
        for name, mode in MODES.items():
            run = RemoteOptimizer.create(sdk, x0, **mode, **config)
            assert drive(run, f, steps, report_every=every) == trajectory, name
            run.close()
            assert bits(run.x) == bits(expected.state.x), name
            assert (run.step, run.lr, run.mu) == (steps, expected.lr, expected.mu), name
            assert run.mismatches == 0 and run.mirrored == bool(mode), name
            final = sdk.sessions.parameters(run.id)
            assert final.step == steps and bits(final.x) == bits(expected.state.x), name
            # mirrored tells carry a checksum back instead of x
            assert set(_tell_answers(requests, run.id)) == {"checksum" if mode else "x"}, name


@pytest.mark.parametrize("mode", MODES)
def test_a_metric_reported_behind_its_back(local, mode):
    """Another client reports metrics that halve lr: a mirror applies the next step with the old
    lr, sees that the service did not, and continues from the service's x."""
    steps, at = 30, 11
    f = quadratic(DIM)
    x0 = x0_for(DIM)
    # mu sits at its floor, so only lr moves: the values the client measured stay valid
    config = _config(schedule={"patience": 0, "min_mu": 1e-3})
    run = RemoteOptimizer.create(local, x0, **MODES[mode], **config)
    interfered: list[int] = []

    def interfere(run):
        if run.step == at and not interfered:
            run.flush()  # the service has every step before this one
            for _ in range(2):  # the first sets the best value, the second is a plateau
                local.sessions.report(run.id, 1e9)
            interfered.append(run.step)

    def interfere_here(opt):
        if opt.step == at:
            opt.report(1e9)
            opt.report(1e9)

    drive(run, f, steps, before=interfere)
    run.close()
    session_config = SessionConfig.from_dict({"dim": DIM, **config})
    expected, _, rates = reference_run(session_config, x0, f, steps, before=interfere_here)
    assert rates[at] == rates[at - 1] / 2  # the reports did halve lr

    assert run.mismatches == (0 if mode == "plain" else 1)
    assert not run.mirrored
    assert (run.step, run.lr) == (steps, expected.lr)
    final = local.sessions.parameters(run.id)
    assert final.step == steps
    assert bits(final.x) == bits(run.x) == bits(expected.state.x)


@pytest.mark.parametrize("mode", ["mirror", "pipeline"])
def test_a_corrupted_mirror_is_detected_and_dropped(local, mode):
    steps, at = 30, 9
    f = quadratic(DIM)
    x0 = x0_for(DIM)
    config = _config()
    run = RemoteOptimizer.create(local, x0, **MODES[mode], **config)

    def corrupt(run):
        if run.step == at and run.mirrored:
            run._mirror.state.x[0] += np.float32(0.5)  # e.g. a stray write into the mirror

    def measured_there(opt):
        if opt.step == at:  # the client measures step `at` at the corrupted x
            x = opt.state.x.copy()
            x[0] += np.float32(0.5)
            return x
        return None

    drive(run, f, steps, before=corrupt)
    run.close()
    expected, _, _ = reference_run(SessionConfig.from_dict({"dim": DIM, **config}), x0, f, steps, before=measured_there)
    assert run.mismatches == 1 and not run.mirrored
    final = local.sessions.parameters(run.id)
    assert final.step == run.step == steps
    assert bits(final.x) == bits(run.x) == bits(expected.state.x)


@pytest.mark.parametrize("mode", MODES)
def test_a_steps_directions_are_made_once_and_handed_out_read_only(local, mode):
    config = _config(directions=3)
    with RemoteOptimizer.create(local, x0_for(DIM), **MODES[mode], **config) as run:
        first = run.directions()
        assert np.shares_memory(run.directions(), first)  # the same array all the step
        assert bits(first) == bits(directions(config["seed"], 0, 3, DIM))
        with pytest.raises(ValueError, match="read-only"):
            first *= 2.0
        run.tell(**zo_values(quadratic(DIM), run.x, run.mu, first))
        second = run.directions()
        assert bits(first) == bits(directions(config["seed"], 0, 3, DIM))  # step 0's, still
        assert bits(second) == bits(directions(config["seed"], 1, 3, DIM))


@pytest.mark.parametrize("mode", MODES)
def test_a_closed_run_takes_no_tell_and_resume_continues_it(local, mode):
    from zoadamm.sdk import ClientClosedError

    f = quadratic(DIM)
    run = RemoteOptimizer.create(local, x0_for(DIM), **MODES[mode], **_config())
    drive(run, f, 2)
    run.close()
    with pytest.raises(ClientClosedError, match=f"session {run.id}\\) was closed at step 2; RemoteOptimizer.resume"):
        run.tell(**zo_values(f, run.x, run.mu, run.directions()))
    with pytest.raises(ClientClosedError):
        run.report(1.0)
    assert local.sessions.get(run.id).step == 2  # the refused tell sent nothing
    again = RemoteOptimizer.resume(local, run.id)
    drive(again, f, 5)  # until step 5
    assert again.step == 5 and local.sessions.get(run.id).step == 5


@pytest.mark.parametrize("mode", MODES)
def test_a_run_told_from_two_threads_at_once_refuses_the_second(local, mode, monkeypatch):
    """A run is driven by one thread at a time: the second thread's tell, while the first is in
    its step, is refused by name and sends nothing, where it read the other's half-made step (a
    record for step 0 applied at step 1, or a 409 for the step the other closed)."""
    f = quadratic(DIM)
    run = RemoteOptimizer.create(local, x0_for(DIM), **MODES[mode], **_config())
    values = zo_values(f, run.x, run.mu, run.directions())
    inside, go_on, flush = threading.Event(), threading.Event(), run.flush

    def held_flush():  # the first thread waits here, inside its tell
        if threading.current_thread() is first:
            inside.set()
            go_on.wait()
        flush()

    monkeypatch.setattr(run, "flush", held_flush)
    first = threading.Thread(target=run.tell, kwargs=values)
    first.start()
    inside.wait()
    try:
        with pytest.raises(InvalidArgument, match=f"RemoteOptimizer of session {run.id} was told from two threads"):
            run.tell(**values)
    finally:
        go_on.set()
        first.join()
    monkeypatch.undo()
    run.flush()
    assert run.step == 1 and local.sessions.get(run.id).step == 1  # the first tell alone
    drive(run, f, 3)
    run.flush()
    assert local.sessions.get(run.id).step == 3


@pytest.mark.parametrize("mode", ["mirror", "pipeline"])
def test_a_mirror_starts_at_the_rates_metrics_set_before_the_first_step(local, mode):
    """Reports before step 0 halved lr and mu; the mirror began at the config's, so its first
    step disagreed with the service's, and it was dropped for the rest of the run."""
    f = quadratic(DIM)
    made = local.sessions.create(DIM, x0=x0_for(DIM), lr=0.1, schedule={"patience": 0}, seed=3)
    for value in (5.0, 5.0, 5.0):
        local.sessions.report(made.id, value)
    run = RemoteOptimizer.resume(local, made.id, **MODES[mode])
    assert run.lr < 0.1 and run.mirrored
    drive(run, f, 5)
    run.flush()
    assert run.mirrored and run.mismatches == 0
    assert bits(run.x) == bits(local.sessions.parameters(made.id).x)


def test_joining_a_session_later_cannot_mirror(local):
    f = quadratic(DIM)
    first = RemoteOptimizer.create(local, x0_for(DIM), **_config())
    drive(first, f, 3)
    later = RemoteOptimizer(local, first.id, mirror=True)  # the moments are not known here
    assert later.step == 3 and not later.mirrored
    assert bits(later.x) == bits(first.x)
    drive(later, f, 6)
    assert later.mismatches == 0 and bits(later.x) == bits(local.sessions.parameters(first.id).x)
    with pytest.raises(InvalidArgument):
        RemoteOptimizer(local, first.id, pipeline=True)


@pytest.mark.parametrize("kind", list(feasible_sets(DIM)))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
def test_every_method_and_set_walk_the_in_process_path(local, mode, method, kind):
    """Plain, mirrored and pipelined runs of each method on each set: x is the in-process
    optimizer's at every step, and the service agrees with the mirror every time."""
    constraint = feasible_sets(DIM)[kind]
    f, grad = quadratic_with_gradient(DIM)
    x0 = feasible_x0(constraint, DIM)
    config = _config(method=method, lr=0.003 if method == "zo-sgd" else 0.05, constraint=constraint)
    expected = Optimizer.start(SessionConfig(DIM, **config), x0)
    with RemoteOptimizer.create(local, x0, **MODES[mode], **config) as run:
        assert run.config.constraint == constraint
        for _ in range(8):
            if run.config.takes_values:
                values = zo_values(f, run.x, run.mu, run.directions())
                run.tell(**values)
                expected.apply(expected.zo_record(values["f_x"], values["f_plus"]))
            else:
                g = grad(run.x)
                run.tell_gradient(g)
                expected.apply(expected.fo_record(g))
            assert bits(run.x) == bits(expected.state.x)
    assert run.mismatches == 0 and run.mirrored == (mode != "plain")
    assert bits(local.sessions.parameters(run.id).x) == bits(expected.state.x)


@pytest.mark.parametrize("method", ["zo-adamm", "adamm"])
def test_a_pipelined_tell_sends_its_own_values_while_the_caller_refills_its_array(local, method):
    """A pipelined tell leaves from the sending thread after ``tell`` returned; a caller that
    measures every step into one array (held here until the caller has refilled it) still has
    each step applied with the values it was told, at the service as in the mirror."""
    f, grad = quadratic_with_gradient(DIM)
    x0, config = x0_for(DIM), _config(method=method)
    expected = Optimizer.start(SessionConfig(DIM, **config), x0)
    refilled = threading.Event()
    with RemoteOptimizer.create(local, x0, mirror=True, pipeline=True, **config) as run:
        send = run.client.run

        def after_the_refill(parsed):
            if parsed[0].path.endswith("/tell"):  # a tell goes out once the caller refilled its array
                assert refilled.wait(30)
                refilled.clear()
            return send(parsed)

        run.client.run = after_the_refill
        measured = np.empty(DIM if method == "adamm" else config["directions"], np.float32)
        for _ in range(6):
            if method == "adamm":
                measured[:] = grad(run.x)
                record = expected.fo_record(measured.copy())
                run.tell_gradient(measured)
            else:
                values = zo_values(f, run.x, run.mu, run.directions())
                measured[:] = values["f_plus"]
                record = expected.zo_record(values["f_x"], measured.copy())
                run.tell(f_x=values["f_x"], f_plus=measured)
            expected.apply(record)
            measured[:] = 1e3  # the caller's next measurement, before the sending thread sends
            refilled.set()
        run.flush()
        assert run.mismatches == 0
    assert bits(local.sessions.parameters(run.id).x) == bits(expected.state.x)


@pytest.mark.parametrize("bounds", [(-0.5, 0.25), [(-0.5, 0.25)] * 10,
                                    (np.full(10, -0.5), np.full(10, 0.25))], ids=["pair", "pairs", "vectors"])
def test_minimize_within_bounds(local, bounds):
    """Each form of ``bounds`` is the same box; every step stays in it and the run is the
    in-process one with that box."""
    dim, steps = 10, 40
    f = quadratic(dim)
    x0 = np.clip(x0_for(dim), -0.5, 0.25)
    config = _config(directions=2, seed=3)
    seen = []
    result = minimize(f, x0, steps=steps, client=local, progress=False, bounds=bounds,
                      callback=lambda step, x, fx: seen.append((x.min(), x.max())), **config)
    box = FeasibleSet(box=Box(-0.5, 0.25))
    expected, _, _ = reference_run(SessionConfig(dim, constraint=box, **config), x0, f, steps)
    assert bits(result.x) == bits(expected.state.x)
    assert all(low >= -0.5 and high <= 0.25 for low, high in seen) and len(seen) == steps
    assert min(high for _, high in seen) == np.float32(0.25)  # the box binds
    lower, upper = local.sessions.get(result.session_id).session_config().constraint.bounds
    assert np.all(lower == np.float32(-0.5)) and np.all(upper == np.float32(0.25))


def test_minimize_warns_when_a_run_ends_worse_than_it_began(local, caplog):
    """A run that diverges (lr far too large for the quadratic) completes, and says in one
    warning that f ended above where it began, with the way out; a run that improves says nothing."""
    import logging

    f = quadratic(4)
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        steady = minimize(f, x0_for(4), steps=30, client=local, progress=False, lr=0.05, seed=2)
    assert steady.fun < steady.history[0] and "ended above" not in caplog.text + steady.message
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        wild = minimize(f, x0_for(4), steps=30, client=local, progress=False, lr=500.0, seed=2, schedule=None)
    assert wild.fun > wild.history[0]
    (warning,) = [r.getMessage() for r in caplog.records if "ended above where it began" in r.getMessage()]
    assert f"session {wild.session_id}" in warning and "smaller lr" in warning
    # the result says so too, for a program that reads it and no log (success: the steps were taken)
    assert wild.message == (f"reached step 30; f ended above where it began ({wild.history[0]:.6g} at the first "
                            f"step, {wild.fun:.6g} at the end)") and wild.success


def test_minimize_counts_its_flat_steps_and_leaves_its_warnings_to_a_caller_who_asks(local, caplog):
    """``flat_steps`` counts the steps whose probes all gave f(x); with warn=False neither the
    warning of a run that never moved nor that of one that ended worse is logged, and the
    result says the same."""
    import logging

    f = quadratic(4)
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        flat = minimize(lambda x: 1.0, x0_for(4), steps=5, client=local, progress=False, seed=2, warn=False)
        wild = minimize(f, x0_for(4), steps=30, client=local, progress=False, lr=500.0, seed=2, schedule=None,
                        warn=False)
        steady = minimize(f, x0_for(4), steps=30, client=local, progress=False, lr=0.05, seed=2, warn=False)
    assert caplog.records == []
    assert flat.flat_steps == len(flat.history) == 5 and bits(flat.x) == bits(x0_for(4))
    assert wild.fun > wild.history[0] and wild.flat_steps == 0
    assert steady.fun < steady.history[0] and steady.flat_steps == 0
    with caplog.at_level(logging.WARNING, logger="zoadamm"):  # as before by default
        again = minimize(lambda x: 1.0, x0_for(4), steps=5, client=local, progress=False, seed=2)
    assert again.flat_steps == 5
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "gave the same value at x and at every probe x + mu u in all 5 steps" in warning


def test_minimize_refuses_x0_outside_its_bounds(local):
    with pytest.raises(InvalidArgument, match="x0 lies above constraint.box"):  # before any request
        minimize(quadratic(3), np.ones(3), steps=2, client=local, progress=False, bounds=(-1, 0.5))
    assert local.sessions.list() == [] or all(s.name is not None for s in local.sessions.list())


def test_bounds_take_scipys_forms_and_name_what_is_wrong():
    """None and inf on their own side mean no bound; scipy's Bounds object works; a shape that is
    not bounds is InvalidArgument, with what was expected."""
    from scipy.optimize import Bounds

    end = np.float32(np.finfo(np.float32).max)
    for given in ([(None, 1.0), (-np.inf, 1.0), (-np.inf, 1.0)], Bounds(-np.inf, [1.0, 1.0, 1.0]),
                  Bounds(-np.inf, 1.0),  # scipy keeps a number as an array of one, for every coordinate
                  (np.array(-np.inf), np.array(1.0))):  # 0-d arrays read as their numbers
        lower, upper = box_of(given, np.zeros(3)).bounds
        assert np.all(np.asarray(lower) == -end) and np.all(np.asarray(upper) == np.float32(1.0))
    for given, message in [([(-1, 1), (-2, 2)], "two \\(lo, hi\\) pairs, or \\(lo, hi\\) of two values each; x0 has 3"),
                           ([(-1, 1)] * 4, "bounds has 4 \\(lo, hi\\) pairs, x0 has 3 values"),
                           (([0, 0], 1), "bounds' lo has 2 values, x0 has 3"),
                           (1.0, "bounds must be \\(lo, hi\\), 3 \\(lo, hi\\) pairs or scipy's Bounds, got float"),
                           ({"lower": 0, "upper": 1}, "got dict"),
                           (Ball("2", 0.0, 1.0), "got Ball; a Box, Ball or FeasibleSet goes in constraint="),
                           # the item that is no pair is named (was only "got 3 items", and 3 pairs are right)
                           ([(0, 1), (0, 1, 2), (0, 1)], r"got 3 items \(item 1 is \(0, 1, 2\), not a \(lo, hi"),
                           ((np.inf, 1.0), "constraint.box.lower contains NaN or infinite values")]:
        with pytest.raises(InvalidArgument, match=message):
            box_of(given, np.zeros(3))


def test_bounds_given_as_arrays_are_read_whole_and_give_the_box_of_the_same_lists():
    """Arrays of bounds were read an element at a time, seconds before the first request at
    d = 1e6; read whole, they give the bits the lists give, inf and -inf as no bound."""
    rng = np.random.default_rng(0)
    lower = -rng.random(1000) - 0.5
    upper = rng.random(1000) + 0.5
    lower[3], upper[7], upper[8] = -np.inf, np.inf, 2  # an int among floats, as a list may hold
    x0 = np.zeros(1000)
    as_lists = box_of((lower.tolist(), upper.tolist()), x0)
    for given in ((lower, upper), np.stack([lower, upper], 1), [(lo, hi) for lo, hi in zip(lower, upper, strict=True)]):
        box = box_of(given, x0)
        assert all(bits(np.asarray(a)) == bits(np.asarray(b)) for a, b in zip(box.bounds, as_lists.bounds, strict=True))
    whole = box_of((np.zeros(4, np.int64), np.full(4, 3, np.int64)), np.ones(4))  # integer arrays too
    assert np.all(np.asarray(whole.bounds[1]) == 3)
    half = box_of(np.array([[-np.inf, 2]] * 3, np.float16), np.zeros(3))  # float32's end fits no float16
    assert np.all(np.asarray(half.bounds[0]) == -np.finfo(np.float32).max)


def test_at_d_2_scipys_bounds_are_a_lower_and_an_upper_vector_and_pairs_are_pairs():
    """scipy reads a 2 x 2 list as one (lo, hi) pair per coordinate and Bounds(lo, hi) as two
    vectors; where x0 says the list was meant as vectors, the message says what to pass."""
    from scipy.optimize import Bounds

    lower, upper = box_of(Bounds([-1.0, 0.0], [1.0, 5.0]), np.array([-0.5, 2.0])).bounds
    assert list(lower) == [-1.0, 0.0] and list(upper) == [1.0, 5.0]
    lower, upper = box_of([(-1.0, 0.0), (1.0, 5.0)], np.array([-0.5, 2.0])).bounds  # x0 in the pairs' box
    assert list(lower) == [-1.0, 1.0] and list(upper) == [0.0, 5.0]
    with pytest.raises(InvalidArgument, match="one pair per coordinate, as scipy reads them.*Bounds\\(lo, hi\\)"):
        box_of([[-1.0, 0.0], [1.0, 5.0]], np.array([0.5, 0.5]))  # inside only as vectors
    # read as pairs, ([0, -1], [1, 1]) is no box at all (0 > -1); as vectors it holds x0
    with pytest.raises(InvalidArgument, match="read that way: constraint.box.lower > constraint.box.upper at index 0.*"
                                              "Bounds\\(lo, hi\\)"):
        box_of(([0.0, -1.0], [1.0, 1.0]), np.array([0.5, 0.0]))


def test_minimize_in_scipys_bounds_at_d_2(local):
    from scipy.optimize import Bounds

    result = minimize(lambda x: float(np.sum((x - 3.0) ** 2)), np.array([-0.5, 2.0]), steps=300, client=local,
                      progress=False, bounds=Bounds([-1.0, 0.0], [1.0, 5.0]), lr=0.05, seed=1)
    assert abs(result.x[0] - 1.0) < 1e-6 and abs(result.x[1] - 3.0) < 0.2  # x0 = 1 is on the box's face


# --- minimize ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["plain", "pipeline"])
def test_minimize_a_quadratic(local, mode):
    dim, steps = 10, 150
    f = quadratic(dim)
    x0 = x0_for(dim)
    config = _config(directions=2, seed=3)
    seen = []
    result = minimize(f, x0, steps=steps, client=local, progress=False, **MODES[mode],
                      callback=lambda step, x, fx: seen.append(step), **config)
    expected, _, _ = reference_run(SessionConfig.from_dict({"dim": dim, **config}), x0, f, steps)

    # 55.9 -> 8.1e-4 in 150 steps of 3 evaluations
    assert f(x0) > 50 and result.fun < 2e-3 and result.fun < 1e-4 * f(x0)
    assert bits(result.x) == bits(expected.state.x) and result.fun == f(expected.state.x)
    assert (result.steps, result.evaluations) == (steps, steps * 3 + 1)
    assert len(result.history) == steps and result.history[0] == f(x0)
    assert seen == list(range(1, steps + 1))
    assert bits(local.sessions.parameters(result.session_id).x) == bits(result.x)


def test_minimize_rosenbrock(local):
    steps = 300
    x0 = np.zeros(2)
    config = _config(lr=0.02, directions=2, seed=3)
    result = minimize(rosenbrock, x0, steps=steps, client=local, progress=False, mirror=True, pipeline=True, **config)
    expected, _, _ = reference_run(SessionConfig.from_dict({"dim": 2, **config}), x0, rosenbrock, steps)
    # 1.0 at the origin -> 9.1e-4 near (0.970, 0.941), down the curved valley to (1, 1)
    assert result.fun < 2e-3 and np.max(np.abs(result.x - 1.0)) < 0.1
    assert bits(result.x) == bits(expected.state.x)


@pytest.mark.parametrize("mode", ["mirror", "pipeline"])
def test_minimize_keeps_its_step_count_when_the_mirror_is_contradicted(local, mode):
    steps, at = 30, 10
    f = quadratic(DIM)
    config = _config(schedule={"patience": 0, "min_mu": 1e-3})

    def interfere(step, x, fx):
        if step == at:
            (session,) = local.sessions.list()
            for _ in range(2):
                local.sessions.report(session.id, 1e9)

    result = minimize(f, x0_for(DIM), steps=steps, client=local, progress=False, callback=interfere,
                      **MODES[mode], **config)
    assert result.steps == steps and len(result.history) == steps
    assert bits(local.sessions.parameters(result.session_id).x) == bits(result.x)
    assert local.sessions.get(result.session_id).lr == config["lr"] / 2
    if mode == "mirror":  # the check follows each tell: no evaluation is wasted
        assert result.evaluations == steps * 3 + 1

        def interfere_here(opt):
            if opt.step == at:
                opt.report(1e9)
                opt.report(1e9)

        expected, _, _ = reference_run(SessionConfig.from_dict({"dim": DIM, **config}), x0_for(DIM), f, steps,
                                       before=interfere_here)
        assert bits(result.x) == bits(expected.state.x)
    else:  # the step measured at the mirror's x was dropped and measured again
        assert result.evaluations == (steps + 1) * 3 + 1


def test_minimize_reports_progress_on_stderr(local, capsys):
    result = minimize(quadratic(4), np.zeros(4), steps=40, client=local, **_config())
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert 10 <= len(lines) <= 11  # a log (not a terminal) gets a line per tenth of the run
    assert all(line.startswith("zo-adamm [") for line in lines)
    assert "40/40" in lines[-1] and f"f={result.history[-1]:.4g}" in lines[-1]
    minimize(quadratic(4), np.zeros(4), steps=5, client=local, progress=False, **_config())
    assert capsys.readouterr() == ("", "")


def test_progress_in_a_log_comes_at_least_every_ten_seconds(monkeypatch):
    import io

    from zoadamm.sdk import progress

    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    log = io.StringIO()
    bar = progress.Progress(1000, "slow", stream=log)
    for _ in range(30):  # 30 steps of 4 s: 3% of the run, two minutes
        now[0] += 4.0
        bar.update(1)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("slow [") and "30/1000" not in lines[0]  # steps 1, 4, 7, ...
    assert lines[-1].split("]")[1].strip().startswith("28/1000")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_minimize_refuses_a_non_finite_value_without_telling_it(local, mode, bad):
    f = quadratic(DIM)
    fail_at = 3 * 7 + 2  # an f(x + mu u) of step 7 (three evaluations a step)
    calls = []

    def flaky(x):
        calls.append(1)
        return bad if len(calls) == fail_at else f(x)

    config = _config(seed=5)
    with pytest.raises(ValueError, match="finite"):
        minimize(flaky, x0_for(DIM), steps=20, client=local, progress=False, **MODES[mode], **config)
    (session,) = local.sessions.list()
    expected, _, _ = reference_run(SessionConfig.from_dict({"dim": DIM, **config}), x0_for(DIM), f, 7)
    final = local.sessions.parameters(session.id)
    assert final.step == 7
    assert bits(final.x) == bits(expected.state.x)


@pytest.mark.parametrize("returned, said", [
    (np.zeros(3), "an array of shape (3,)"), ([1.0, 2.0], "a list of 2 items"), ("1.0", "the string '1.0'"),
    (None, "a NoneType"), (1 + 2j, "a complex")])
def test_minimize_says_when_f_does_not_return_one_number(local, returned, said):
    with pytest.raises(ValueError, match=rf"the objective must return one number; it returned {re.escape(said)}"):
        minimize(lambda x: returned, np.zeros(3), steps=2, client=local, progress=False)
    # one number in any form counts: a numpy scalar, an array of one value, a torch tensor
    import torch

    for one in (lambda x: np.array([float(np.sum(x ** 2))]), lambda x: np.float32(np.sum(x ** 2)),
                lambda x: torch.tensor(x).pow(2).sum(), lambda x: torch.tensor(x).pow(2).sum().reshape(1)):
        result = minimize(one, np.ones(3), steps=2, client=local, progress=False)
        assert np.isfinite(result.fun)


@pytest.mark.parametrize("mode", ["plain", "mirror"])
def test_a_run_cut_short_after_its_tell_went_out_stops_at_the_services_step(test_client, mode):
    """Ctrl-C as a tell's answer arrives: the service took the step, the run never heard.  Once
    closed, the run's step is the service's, so that an interrupted run says where it stopped."""
    app = through(test_client)
    cut = []

    def handle(request: httpx.Request) -> httpx.Response:
        answer = app(request)
        if request.url.path.endswith("/tell") and not cut:
            cut.append(1)
            raise KeyboardInterrupt  # the answer is lost with the interrupt
        return answer

    sdk = Client(http_client=httpx.Client(transport=httpx.MockTransport(handle), base_url="http://test"))
    run = RemoteOptimizer.create(sdk, x0_for(DIM), mirror=mode == "mirror", **_config())
    u = run.directions()
    f = quadratic(DIM)
    with pytest.raises(KeyboardInterrupt):
        run.tell(f_x=f(run.x), f_plus=[f(run.x + np.float32(run.mu) * u_i) for u_i in u])
    run.close()
    assert run.step == sdk.sessions.get(run.id).step == 1


def test_minimize_that_fails_waits_for_the_tell_in_flight(test_client):
    """Pipelined, the tell of step 6 is still travelling when step 7's evaluation fails: it must
    land (and be checked) before minimize raises, not after, from a thread nobody waits for."""
    f = quadratic(DIM)
    failed = threading.Event()
    landed = []
    app = through(test_client)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tell") and len(landed) == 6:
            failed.wait()  # hold step 6's tell until step 7's evaluation has failed
        answer = app(request)
        if request.url.path.endswith("/tell"):
            landed.append(answer.status_code)
        return answer

    calls: list[int] = []

    def flaky(x):
        calls.append(1)
        if len(calls) == 3 * 7 + 1:  # f(x) of step 7 (three evaluations a step)
            failed.set()
            return float("nan")
        return f(x)

    sdk = Client(http_client=httpx.Client(transport=httpx.MockTransport(handle), base_url="http://test"))
    with pytest.raises(ValueError):
        minimize(flaky, x0_for(DIM), steps=20, client=sdk, progress=False, mirror=True, pipeline=True, **_config())
    assert landed == [200] * 7
    (session,) = sdk.sessions.list()
    assert sdk.sessions.parameters(session.id).step == 7


def test_a_pipelined_optimizer_leaves_the_switch_interval_alone(local):
    """Library objects do not change process state: only ``fast_switching``, which the program
    calls, lowers the interval, and it gives back what was there however it is left."""
    import sys

    before = sys.getswitchinterval()
    x0 = x0_for(DIM)
    with RemoteOptimizer.create(local, x0, mirror=True, pipeline=True, **_config()) as run:
        assert sys.getswitchinterval() == before
        run.tell(**zo_values(quadratic(DIM), run.x, run.mu, run.directions()))
        assert run.step == 1 and sys.getswitchinterval() == before
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), fast_switching(1e-4):
        lowered = sys.getswitchinterval()  # kept in whole microseconds
        assert lowered == pytest.approx(1e-4) and lowered < before
        with fast_switching(1.0):  # never raises it
            assert sys.getswitchinterval() == lowered
        assert sys.getswitchinterval() == lowered
        raise RuntimeError("left by an error")
    assert sys.getswitchinterval() == before


def test_a_pipelined_optimizer_of_a_large_x_checks_every_step_against_a_checksum_summed_ahead(local):
    """From 1 MB of x on, the CRC of the mirror's next x is summed on the sending thread while
    the caller evaluates at it: every step's check still agrees, and each x is the in-process
    run's, bit for bit."""
    dim, steps = 300_000, 5
    f, x0, config = quadratic(dim), x0_for(dim), _config()
    summed_ahead = []
    with RemoteOptimizer.create(local, x0, mirror=True, pipeline=True, **config) as run:
        trajectory = drive(run, f, steps, before=lambda r: summed_ahead.append(r._checksum_ahead is not None))
        run.flush()
        assert run.mirrored and run.mismatches == 0
        final = bits(run.x)
    _, expected, _ = reference_run(SessionConfig.from_dict({"dim": dim, **config}), x0, f, steps)
    assert summed_ahead == [False] + [True] * (steps - 1)  # none before the first step
    assert trajectory == expected
    assert final == bits(local.sessions.parameters(run.id).x)


def test_an_interrupt_during_the_mirrors_update_leaves_the_step_the_service_took(local):
    """Ctrl-C can land after a pipelined tell was sent and before the mirror moved on: the tell
    still lands when the run closes, and the run's step is then the service's (what a resume
    continues from), not the one before."""
    f, x0 = quadratic(DIM), x0_for(DIM)
    with RemoteOptimizer.create(local, x0, mirror=True, pipeline=True, **_config()) as run:
        run.tell(**zo_values(f, run.x, run.mu, run.directions()))

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        run._mirror.apply = interrupted
        with pytest.raises(KeyboardInterrupt):
            run.tell(**zo_values(f, run.x, run.mu, run.directions()))
        run.close()
        assert run.step == local.sessions.get(run.id).step == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_tell_refused_because_another_writer_moved_on_leaves_the_run_at_the_services_step(local, mode):
    """Two optimizers on one session: the one that fell behind gets ConflictError for values
    measured at an x the session has left, and is then at the service's step and x (no mirror:
    the moments are the service's), so its next tell, measured there, is taken."""
    from zoadamm.sdk import ConflictError

    f = quadratic(DIM)
    ahead = RemoteOptimizer.create(local, x0_for(DIM), **_config())
    behind = RemoteOptimizer.resume(local, ahead.id, **MODES[mode])
    assert behind.mirrored == (mode != "plain")
    drive(ahead, f, 3)
    with pytest.raises(ConflictError) as refused:
        behind.tell(**zo_values(f, behind.x, behind.mu, behind.directions(), False))
        behind.flush()  # pipelined: the answer is awaited here
    assert refused.value.step == 3
    service = local.sessions.parameters(ahead.id)
    assert (behind.step, behind.mirrored) == (3, False) and bits(behind.x) == bits(service.x)
    behind.tell(**zo_values(f, behind.x, behind.mu, behind.directions(), False))
    behind.close()
    assert behind.step == local.sessions.parameters(ahead.id).step == 4


def test_a_callback_sees_each_step_and_stops_the_run_with_stop_iteration(local):
    """As scipy's: called after each step with the new step and x (and the f just told, at the
    x before it); StopIteration ends the run there, with its result."""
    f = quadratic(DIM)
    seen: list[tuple[int, float, bool]] = []

    def callback(step, x, f_x):
        seen.append((step, f_x, x.flags.writeable))
        if step == 5:
            raise StopIteration

    result = minimize(f, x0_for(DIM), steps=50, client=local, progress=False, callback=callback, **_config())
    assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5] and not any(w for _, _, w in seen)
    assert seen[0][1] == f(x0_for(DIM).astype(np.float32)) and result.steps == 5
    assert result.history == [v for _, v, _ in seen] and local.sessions.parameters(result.session_id).step == 5


def test_a_callback_returning_true_stops_the_run_and_the_result_has_scipys_names(local):
    f = quadratic(DIM)
    result = minimize(f, x0_for(DIM), steps=50, client=local, progress=False,
                      callback=lambda step, x, f_x: step == 4, **_config())
    assert result.steps == result.nit == 4 and result.nfev == result.evaluations == 4 * 3 + 1
    assert result.success and result.status == 0 and result.message == "stopped by the callback at step 4"
    assert result["x"] is result.x and result["fun"] == result.fun and result["nfev"] == 13
    with pytest.raises(KeyError):
        result["history"]  # not a name of scipy's
    assert "x" in result and "history" not in result and dict(result)["nit"] == 4  # a mapping, as scipy's
    again = minimize(f, x0_for(DIM), steps=2, client=local, progress=False, session_id=result.session_id)
    assert again.message == "no step taken: the session is at step 4" and again.steps == 4


def test_a_scipy_style_callback_is_refused_before_the_first_step(local):
    """callback(xk) passed the check, ran one step, then failed with a TypeError from inside."""
    before = len(local.sessions.list())
    with pytest.raises(InvalidArgument, match=r"callback\(step, x, f_x\); for scipy's callback\(xk\) give"):
        minimize(quadratic(DIM), x0_for(DIM), steps=5, client=local, progress=False, callback=lambda xk: None)
    assert len(local.sessions.list()) == before
    with pytest.raises(InvalidArgument, match="callback returned an array of 2 values: return True"):
        minimize(quadratic(DIM), x0_for(DIM), steps=5, client=local, progress=False,
                 callback=lambda step, x, f_x: np.array([True, False]))
    import functools

    def scipy_style(xk):
        return None

    @functools.wraps(scipy_style)  # an adapter that says it wraps callback(xk): called as it is
    def adapted(step, x, f_x):
        return scipy_style(x)

    assert minimize(quadratic(DIM), x0_for(DIM), steps=2, client=local, progress=False, callback=adapted).steps == 2
    flat = minimize(lambda x: 1.0, x0_for(DIM), steps=3, client=local, progress=False,
                    callback=lambda step, x, f_x: np.array([False]))  # a 1-element array is its value
    assert flat.steps == 3 and not flat.success and flat.status == 1 and "x did not move" in flat.message


@pytest.mark.parametrize("mirror", [False, True])
def test_a_box_or_a_ball_alone_is_the_set(local, mirror):
    """constraint=Box(...) or Ball(...) needs no FeasibleSet around it."""
    box, ball = Box(lower=-0.5, upper=0.5), Ball(norm="2", center=0.0, radius=1.0)
    for part, expected in [(box, FeasibleSet(box=box)), (ball, FeasibleSet(ball=ball))]:
        run = RemoteOptimizer.create(local, np.zeros(3), constraint=part, mirror=mirror, seed=1)
        assert run.config.constraint == expected
        run.tell(f_x=1.0, f_plus=[2.0])
        assert expected.violation(run.x) is None


@pytest.mark.parametrize("mode", ["mirror", "pipeline"])
@pytest.mark.parametrize("method", ["zo-adamm", "zo-sgd"])
def test_values_that_make_too_large_a_gradient_are_refused_here_and_the_mirror_stays(local, mode, method):
    """The mirror took the step before the service refused it (422), and the run fell back to
    plain mode for good; the core now refuses such a record as it refuses NaN, before anything
    is sent or applied."""
    f, x0, config = quadratic(DIM), x0_for(DIM), _config(method=method)
    with RemoteOptimizer.create(local, x0, **MODES[mode], **config) as run:
        drive(run, f, 2)
        with pytest.raises(InvalidArgument, match=r"gradient too large: \|g\| must stay below"):
            run.tell(f_x=0.0, f_plus=[1e30, 0.0])
        assert run.mirrored and run.step == 2
        goes_on_as_an_unbroken_run(local, run, f, x0, config)


def test_a_ctrl_c_inside_the_mirrors_update_waits_for_it_and_the_run_goes_on(local):
    """The update and the step's count belong together: a Ctrl-C between them left x moved and
    the step not counted, and the next tell measured at a point the service never had."""
    import os
    import signal

    f, x0, config = quadratic(DIM), x0_for(DIM), _config()
    with RemoteOptimizer.create(local, x0, mirror=True, **config) as run:
        drive(run, f, 1)
        apply = run._mirror.apply

        def interrupted(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)  # lands halfway through the update
            apply(*args, **kwargs)

        run._mirror.apply = interrupted
        with pytest.raises(KeyboardInterrupt):
            drive(run, f, 2)
        run._mirror.apply = apply
        assert run.step == 2
        goes_on_as_an_unbroken_run(local, run, f, x0, config)


def goes_on_as_an_unbroken_run(client, run, f, x0, config, steps: int = 4) -> None:
    """``run`` driven on to ``steps``, still mirrored, ends where an uninterrupted in-process run does."""
    drive(run, f, steps)
    run.flush()
    assert run.mirrored and run.mismatches == 0
    expected, _, _ = reference_run(SessionConfig.from_dict({"dim": DIM, **config}), x0, f, steps)
    assert bits(run.x) == bits(client.sessions.parameters(run.id).x) == bits(expected.state.x)


def test_a_value_f_has_no_answer_for_at_a_probe_outside_the_bounds_says_what_keeps_probes_inside(local):
    """log(x) on [0.01, 1] with mu = 0.2: probes from the lower face go below 0, f gives NaN
    there, and the error names the probe and FeasibleSet.shrunk, where it only said "nan"."""
    def f(x):
        with np.errstate(invalid="ignore"):
            return float(np.sum(np.log(x)))

    with pytest.raises(ValueError, match=r"returned nan.*at a probe x \+ mu u outside the constraint.*shrunk\(mu\)"):
        minimize(f, np.full(DIM, 0.01, np.float32), bounds=(0.01, 1.0), client=local, mu=0.2, lr=0.01, steps=20,
                 progress=False)
    # at x itself: as before
    with pytest.raises(ValueError, match=r"returned nan; the service.s methods need finite values$"):
        minimize(lambda x: float("nan"), np.full(DIM, 0.5, np.float32), client=local, steps=2, progress=False)


def test_a_session_made_without_x0_asks_for_it_in_the_sdks_words(local):
    session = local.sessions.create(DIM)  # as curl makes one: no x0
    for attach in (lambda: RemoteOptimizer(local, session.id), lambda: RemoteOptimizer.resume(local, session.id)):
        with pytest.raises(InvalidArgument, match=rf"session {session.id} has no parameters yet \(it was created "
                                                  rf"without x0\): give them, RemoteOptimizer\(client, '{session.id}', "
                                                  r"x0=\.\.\.\)"):
            attach()
    run = RemoteOptimizer(local, session.id, x0=x0_for(DIM))
    assert run.step == 0 and bits(run.x) == bits(x0_for(DIM))
    # the same script run again, after a step: its x0 is the session's past, and the SDK names
    # its own way to continue, not a REST path
    run.tell(f_x=1.0, f_plus=[0.5])
    with pytest.raises(InvalidArgument, match=rf"session {session.id} is at step 1, where x is no longer x0: "
                                              rf"continue it with RemoteOptimizer.resume\(client, '{session.id}'\)"):
        RemoteOptimizer(local, session.id, x0=x0_for(DIM))
    assert RemoteOptimizer.resume(local, session.id).step == 1


def test_a_callback_keeps_each_steps_x_in_every_mode(local):
    """The mirror's x is a view of its state, updated in place: a callback that keeps the best
    x so far must get an array of its own, as in plain mode (the same bits in both)."""
    f = quadratic(DIM)
    kept: dict[bool, list[np.ndarray]] = {}
    for mirror in (False, True):
        seen: list[np.ndarray] = []
        minimize(f, x0_for(DIM), steps=6, client=local, progress=False, mirror=mirror,
                 callback=lambda step, x, f_x, seen=seen: seen.append(x), **_config())
        kept[mirror] = seen
        assert len({id(x) for x in seen}) == 6 and not any(x.flags.writeable for x in seen)
    assert [bits(x) for x in kept[True]] == [bits(x) for x in kept[False]]
    assert len({bits(x) for x in kept[True]}) == 6  # each step's x, not the last one six times


def test_a_numpy_true_from_the_callback_stops_the_run(local):
    f = quadratic(DIM)
    result = minimize(f, x0_for(DIM), steps=50, client=local, progress=False,
                      callback=lambda step, x, f_x: np.int64(step) >= 3, **_config())
    assert result.steps == 3


@pytest.mark.parametrize("mirror", [False, True])
def test_a_start_moved_onto_the_set_is_the_runs_x_in_every_mode(local, mirror):
    """0.7 rounds below the box's float32 lower bound: the service moves x0 onto X, and the run
    evaluates there too, not at the x0 it was given."""
    made = local.sessions.create(2, constraint=FeasibleSet(box=Box(0.7, 1.0)), seed=1)
    run = RemoteOptimizer(local, made.id, x0=[0.7, 0.8], mirror=mirror)
    assert bits(run.x) == bits(local.sessions.parameters(made.id).x)
    assert run.config.constraint.violation(run.x) is None
