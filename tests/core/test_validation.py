"""Bad arguments raise InvalidArgument naming the argument; the plateau schedule's semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoadamm import (
    AdaMMConfig,
    AdaMMState,
    InvalidArgument,
    Optimizer,
    PlateauConfig,
    PlateauState,
    SessionConfig,
    StepRecord,
    adamm_update,
    assemble_gradient,
    dimension_factor,
    direction,
    directions,
    plateau_step,
    zo_coefficients,
    zo_gradient,
)

NAN, INF = math.nan, math.inf


def test_invalid_argument_is_a_value_error():
    # callers that only know ValueError still catch it
    assert issubclass(InvalidArgument, ValueError)


# --- sizes and counts ------------------------------------------------------------------------
@pytest.mark.parametrize("build", [
    lambda: SessionConfig(dim=0),
    lambda: SessionConfig(dim=-3),
    lambda: SessionConfig(dim=2.5),
    lambda: SessionConfig(dim=True),
    lambda: direction(0, 0, 0, 0),
    lambda: dimension_factor(0, "sphere"),
], ids=["session-0", "session-negative", "session-float", "session-bool", "direction", "phi"])
def test_dimension_below_one(build):
    with pytest.raises(InvalidArgument, match="dim must be an integer >= 1"):
        build()


@pytest.mark.parametrize("build, message", [
    (lambda: SessionConfig(dim=5, directions=0), "directions must be an integer >= 1"),
    (lambda: zo_gradient(lambda z: 0.0, np.zeros(3), mu=0.1, seed=0, step=0, directions=0),
     "directions must be an integer >= 1"),
    (lambda: directions(0, 0, 0, 5), "count must be an integer >= 1"),
    (lambda: zo_coefficients(0.0, [], None, mu=0.1, dim=5), r"at least one value \(q >= 1\)"),
])
def test_no_directions(build, message):
    with pytest.raises(InvalidArgument, match=message):
        build()


@pytest.mark.parametrize("mu", [0.0, -1e-3, NAN, INF])
def test_mu_must_be_finite_and_positive(mu):
    with pytest.raises(InvalidArgument, match="mu must be finite and > 0"):
        SessionConfig(dim=5, mu=mu)
    with pytest.raises(InvalidArgument, match="mu must be finite and > 0"):
        zo_coefficients(0.0, [1.0], None, mu=mu, dim=5)


@pytest.mark.parametrize("lr", [0.0, -0.1, NAN, INF])
def test_lr_must_be_finite_and_positive(lr):
    with pytest.raises(InvalidArgument, match="lr must be finite and > 0"):
        SessionConfig(dim=5, lr=lr)
    state = AdaMMState.start(np.ones(3, dtype=np.float32))
    with pytest.raises(InvalidArgument, match="lr must be finite and > 0"):
        adamm_update(state, np.ones(3, dtype=np.float32), lr, AdaMMConfig())
    assert state.step == 0 and np.all(state.m == 0)


def test_zo_gradient_rejects_before_evaluating():
    calls = []

    def f(z):
        calls.append(z)
        return 0.0

    x = np.zeros(4, dtype=np.float32)
    for kwargs in ({"mu": 0.0}, {"distribution": "uniform"}, {"difference": "backward"},
                   {"seed": -1}, {"step": 2**64}):
        arguments = {"mu": 0.1, "seed": 0, "step": 0, **kwargs}
        with pytest.raises(InvalidArgument):
            zo_gradient(f, x, **arguments)
    assert calls == []


# --- non-finite values -----------------------------------------------------------------------
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_non_finite_function_values(bad):
    with pytest.raises(InvalidArgument, match="f_plus contains NaN or infinite values"):
        zo_coefficients(0.0, [1.0, bad], None, mu=0.1, dim=5)
    with pytest.raises(InvalidArgument, match="f_x contains NaN or infinite values"):
        zo_coefficients(bad, [1.0, 2.0], None, mu=0.1, dim=5)
    with pytest.raises(InvalidArgument, match="f_minus contains NaN or infinite values"):
        zo_coefficients(0.0, [1.0, 2.0], [bad, 0.0], mu=0.1, dim=5, difference="central")
    with pytest.raises(InvalidArgument, match="f_plus contains NaN or infinite values"):
        zo_gradient(lambda z: bad if z[0] != 0 else 0.0, np.zeros(3), mu=0.1, seed=0, step=0)


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_non_finite_x0_and_gradient(bad):
    x0 = np.array([1.0, bad, 0.0])
    with pytest.raises(InvalidArgument, match="x0 contains NaN or infinite values"):
        AdaMMState.start(x0)
    with pytest.raises(InvalidArgument, match="x0 contains NaN or infinite values"):
        Optimizer.start(SessionConfig(dim=3), x0)
    optimizer = Optimizer.start(SessionConfig(dim=3, method="adamm"), np.zeros(3))
    with pytest.raises(InvalidArgument, match="gradient contains NaN or infinite values"):
        optimizer.fo_record([0.0, bad, 1.0])
    with pytest.raises(InvalidArgument, match="metric value must be finite"):
        optimizer.report(bad)


def test_float64_overflow_to_float32_is_caught():
    # finite in float64, infinite once stored as float32 (numpy's own overflow warning is moot)
    with np.errstate(over="ignore"), pytest.raises(InvalidArgument, match="x0 contains NaN"):
        AdaMMState.start(np.array([1e39]))


# --- shapes and lengths ----------------------------------------------------------------------
def test_lengths_must_agree():
    with pytest.raises(InvalidArgument, match="f_x has 2 values, f_plus has 3"):
        zo_coefficients([1.0, 2.0], [1.0, 2.0, 3.0], None, mu=0.1, dim=5)
    with pytest.raises(InvalidArgument, match="f_minus has 2 values, f_plus has 3"):
        zo_coefficients(0.0, [1.0, 2.0, 3.0], [1.0, 2.0], mu=0.1, dim=5, difference="central")
    with pytest.raises(InvalidArgument, match="needs f_minus"):
        zo_coefficients(0.0, [1.0], None, mu=0.1, dim=5, difference="central")
    with pytest.raises(InvalidArgument, match="f_minus is only used with difference='central'"):
        zo_coefficients(0.0, [1.0], [1.0], mu=0.1, dim=5)
    with pytest.raises(InvalidArgument, match="x0 must be a non-empty vector"):
        AdaMMState.start(np.zeros((2, 2)))
    with pytest.raises(InvalidArgument, match="out must be float32 of shape"):
        direction(0, 0, 0, 4, out=np.empty(4, dtype=np.float64))


@pytest.mark.parametrize("gradient", [np.ones(3, dtype=np.float64), np.ones(4, dtype=np.float32)])
def test_adamm_update_rejects_wrong_gradient(gradient):
    state = AdaMMState.start(np.ones(3, dtype=np.float32))
    with pytest.raises(InvalidArgument, match=r"gradient must be float32 of shape \(3,\)"):
        adamm_update(state, gradient, 0.1, AdaMMConfig())


def test_optimizer_rejects_and_keeps_its_state():
    zo = Optimizer.start(SessionConfig(dim=4, directions=2), np.ones(4))
    fo = Optimizer.start(SessionConfig(dim=4, method="adamm"), np.ones(4))
    before = zo.state.copy()
    cases = [
        (lambda: zo.zo_record(1.0, [1.0, 2.0, 3.0]), "f_plus has 3 values, the session has directions=2"),
        (lambda: zo.fo_record(np.ones(4)), "this session's method is 'zo-adamm'"),
        (lambda: fo.zo_record(1.0, [1.0]), "this session's method is 'adamm'"),
        (lambda: fo.fo_record(np.ones(5)), "gradient has 5 values, the session has dim 4"),
        (lambda: zo.apply(StepRecord(step=1, lr=0.1, coefficients=np.ones(2, np.float32))),
         "record for step 1 applied at step 0"),
        (lambda: Optimizer.start(SessionConfig(dim=4), np.ones(3)), "x has 3 values, the session has dim 4"),
        # a gradient whose square overflows float32 would leave the state infinite for good
        (lambda: zo.zo_record(0.0, [1e30, 0.0]), r"these function values make a gradient too large: \|g\| must"),
        (lambda: fo.fo_record(np.array([0, 0, 2e19, 0])), r"this gradient is too large: \|g\| must stay below"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            call()
    assert zo.step == 0
    for name in ("x", "m", "v", "v_hat"):
        assert getattr(zo.state, name).tobytes() == getattr(before, name).tobytes()


# --- names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("build, name", [
    (lambda: SessionConfig(dim=5, distribution="normal"), "distribution"),
    (lambda: SessionConfig(dim=5, difference="backward"), "difference"),
    (lambda: SessionConfig(dim=5, method="adam"), "method"),
    (lambda: SessionConfig(dim=5, normalizer="m"), "normalizer"),
    (lambda: direction(0, 0, 0, 5, "Sphere"), "distribution"),
    (lambda: zo_coefficients(0.0, [1.0], None, mu=0.1, dim=5, difference="fwd"), "difference"),
    (lambda: assemble_gradient([1.0], seed=0, step=0, dim=5, distribution="cube"), "distribution"),
])
def test_unknown_names(build, name):
    with pytest.raises(InvalidArgument, match=f"{name} must be one of"):
        build()


# --- seeds and counters ----------------------------------------------------------------------
@pytest.mark.parametrize("value", [-1, 2**64, 1.0, "7", None, True])
def test_seed_step_index_must_be_unsigned_64_bit(value):
    for name, args in (("seed", (value, 0, 0)), ("step", (0, value, 0)), ("index", (0, 0, value))):
        with pytest.raises(InvalidArgument, match=rf"{name} must be an integer in \[0, 2\*\*64\)"):
            direction(*args, 5)
    with pytest.raises(InvalidArgument, match="seed must be an integer in"):
        SessionConfig(dim=5, seed=value)


def test_extreme_unsigned_values_are_accepted():
    SessionConfig(dim=5, seed=2**64 - 1)
    assert direction(2**64 - 1, 2**64 - 1, 2**64 - 1, 5).shape == (5,)
    assert direction(np.uint64(2**64 - 1), 0, 0, 5).tobytes() == direction(2**64 - 1, 0, 0, 5).tobytes()


# --- AdaMM and schedule hyper-parameters -----------------------------------------------------
@pytest.mark.parametrize("beta", [-0.1, 1.0, 1.5, NAN, INF])
@pytest.mark.parametrize("name", ["beta1", "beta2"])
def test_betas_in_unit_interval(name, beta):
    with pytest.raises(InvalidArgument, match=rf"{name} must be in \[0, 1\)"):
        AdaMMConfig(**{name: beta})
    with pytest.raises(InvalidArgument, match=rf"{name} must be in \[0, 1\)"):
        SessionConfig(dim=5, **{name: beta})


def test_beta_zero_and_eps():
    AdaMMConfig(beta1=0.0, beta2=0.0)  # no momentum is a valid (if unusual) choice
    for eps in (0.0, -1e-8, NAN):
        with pytest.raises(InvalidArgument, match="eps must be finite and > 0"):
            AdaMMConfig(eps=eps)
    with pytest.raises(InvalidArgument, match="eps must be at least float32's smallest"):
        AdaMMConfig(eps=1e-50)  # 0 in float32, where the update adds it: a zero gradient made NaN
    assert AdaMMConfig(eps=1e-44).eps == 1e-44


@pytest.mark.parametrize("kwargs, message", [
    ({"factor": 0.0}, "schedule.factor must be in"),
    ({"factor": 1.0}, "schedule.factor must be in"),
    ({"factor": 2.0}, "schedule.factor must be in"),
    ({"factor": -0.5}, "schedule.factor must be in"),
    ({"factor": NAN}, "schedule.factor must be in"),
    ({"patience": -1}, "schedule.patience must be an integer >= 0"),
    ({"patience": 1.5}, "schedule.patience must be an integer >= 0"),
    ({"min_lr": 0.0}, "schedule.min_lr must be finite and > 0"),
    ({"min_mu": INF}, "schedule.min_mu must be finite and > 0"),
    ({"threshold": 1.0}, "schedule.threshold must be in"),
    ({"threshold": -0.1}, "schedule.threshold must be in"),
])
def test_schedule_ranges(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        PlateauConfig(**kwargs)


# --- plateau semantics -----------------------------------------------------------------------
def _feed(config, values, lr=1e-3, mu=1e-3):
    """Feed values one by one; return the (lr, mu) after each."""
    state, history = PlateauState(), []
    for value in values:
        state, lr, mu = plateau_step(config, state, value, lr, mu)
        history.append((lr, mu))
    return history


def test_halves_after_more_than_patience_non_improving_values():
    history = _feed(PlateauConfig(patience=2), [1.0] * 7)
    # value 1 sets the best; values 2-3 are within patience; value 4 is the third bad one
    assert history[:3] == [(1e-3, 1e-3)] * 3
    assert history[3] == (5e-4, 5e-4)
    # the count restarts after a reduction: three more bad values for the next one
    assert history[4:6] == [(5e-4, 5e-4)] * 2
    assert history[6] == (2.5e-4, 2.5e-4)


def test_patience_zero_reduces_on_every_non_improving_value():
    assert _feed(PlateauConfig(patience=0, factor=0.1), [1.0, 2.0, 3.0]) == [
        (1e-3, 1e-3), (1e-3 * 0.1, 1e-3 * 0.1), (1e-3 * 0.1 * 0.1, 1e-3 * 0.1 * 0.1)]


def test_improvement_resets_the_count():
    # two bad values, an improvement, two bad values: never more than patience in a row
    history = _feed(PlateauConfig(patience=2), [1.0, 1.0, 1.0, 0.5, 0.6, 0.7, 0.8])
    assert history[:6] == [(1e-3, 1e-3)] * 6
    assert history[6] == (5e-4, 5e-4)


def test_improvement_must_beat_the_relative_threshold():
    config = PlateauConfig(patience=0, threshold=1e-2)
    # 0.995 is below the best but not by 1%: not an improvement; 0.98 is
    assert _feed(config, [1.0, 0.995])[-1] == (5e-4, 5e-4)
    assert _feed(config, [1.0, 0.98])[-1] == (1e-3, 1e-3)


def test_floors_at_min_lr_and_min_mu_independently():
    config = PlateauConfig(patience=0, min_lr=1e-6, min_mu=5e-4)
    history = _feed(config, [1.0, 1.0, 1.0, 1.0], lr=3e-6, mu=1e-3)
    assert [lr for lr, _ in history] == [3e-6, 1.5e-6, 1e-6, 1e-6]
    assert [mu for _, mu in history] == [1e-3, 5e-4, 5e-4, 5e-4]


def test_a_value_below_its_floor_is_never_raised_by_a_decay():
    """lr and mu that start below their floors stay there: a decay that would lift them to the
    floor (1e-7 -> 1e-6, ten times the mu a shrunk feasible set was made for) keeps them."""
    config = PlateauConfig(patience=0, min_lr=1e-6, min_mu=1e-6)
    history = _feed(config, [1.0, 1.0, 1.0], lr=1e-7, mu=1e-8)
    assert history == [(1e-7, 1e-8)] * 3
    assert _feed(config, [1.0, 1.0], lr=1.5e-6, mu=1e-8) == [(1.5e-6, 1e-8), (1e-6, 1e-8)]


def test_non_finite_metric_is_rejected():
    for bad in (NAN, INF):
        with pytest.raises(InvalidArgument, match="metric value must be finite"):
            plateau_step(PlateauConfig(), PlateauState(), bad, 1e-3, 1e-3)


def test_optimizer_uses_the_scheduled_lr_and_mu():
    config = SessionConfig(dim=6, lr=0.1, mu=0.01, schedule=PlateauConfig(patience=0))
    optimizer = Optimizer.start(config, np.zeros(6))
    optimizer.report(1.0)
    optimizer.report(1.0)
    assert (optimizer.lr, optimizer.mu) == (0.05, 0.005)
    record = optimizer.zo_record(1.0, [1.5])
    assert record.lr == 0.05
    # the coefficient is computed with the reduced mu: phi / (mu q) * (f+ - f)
    assert record.coefficients[0] == np.float32(6.0 / 0.005 * 0.5)


def test_no_schedule_means_constant_lr_and_mu():
    optimizer = Optimizer.start(SessionConfig(dim=2, schedule=None), np.zeros(2))
    for value in (1.0, 2.0, 3.0, 4.0):
        optimizer.report(value)
    assert (optimizer.lr, optimizer.mu) == (1e-3, 1e-3)
