"""The ZO methods beside ZO-AdaMM: their updates written out, the vectors each keeps (and how
a checkpoint writes and reads them), what their tells carry, and the same bits on replay and in
another process, with every kind of feasible set."""

from __future__ import annotations

import numpy as np
import pytest

from zoadamm import (
    METHODS,
    STATE_VECTORS,
    AdaMMConfig,
    AdaMMState,
    Ball,
    Box,
    FeasibleSet,
    InvalidArgument,
    Optimizer,
    SessionConfig,
    adam_update,
    sgd_update,
    signsgd_update,
    wire,
)
from zoadamm.methods import state_from_vectors, state_vectors

SETS = {
    "none": None,
    "box": FeasibleSet(box=Box(-0.5, [0.5, 1.0, 2.0, 0.25, 0.5, 0.5])),
    "inf": FeasibleSet(ball=Ball("inf", 0.1, 0.4)),
    "2": FeasibleSet(ball=Ball("2", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], 0.6)),
    "box+2": FeasibleSet(box=Box(-0.3, 0.3), ball=Ball("2", 0.0, 0.5)),
}


def test_the_method_table():
    assert METHODS == ("zo-adamm", "adamm", "zo-sgd", "zo-signsgd", "zo-adam")
    assert STATE_VECTORS == {"zo-adamm": ("x", "m", "v", "v_hat"), "adamm": ("x", "m", "v", "v_hat"),
                             "zo-sgd": ("x",), "zo-signsgd": ("x",), "zo-adam": ("x", "m", "v")}
    for method in METHODS:
        state = Optimizer.start(SessionConfig(dim=5, method=method), np.ones(5)).state
        for name in ("x", "m", "v", "v_hat"):  # the vectors a method does not keep cost nothing
            assert getattr(state, name).size == (5 if name in STATE_VECTORS[method] else 0), (method, name)


def test_sgd_and_signsgd_are_the_written_out_float32_steps():
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal(6).astype(np.float32)
    g = rng.standard_normal(6).astype(np.float32)
    g[2] = 0.0
    for update, step in ((sgd_update, g), (signsgd_update, np.sign(g))):
        state = AdaMMState.start(x0, ("x",))
        update(state, g.copy(), 0.125, AdaMMConfig())
        assert state.x.tobytes() == (x0 - np.float32(0.125) * step).tobytes() and state.step == 1
        state = AdaMMState.start(x0, ("x",))
        update(state, g.copy(), 0.125, AdaMMConfig(), SETS["box"])
        expected = np.clip(x0 - np.float32(0.125) * step, -0.5, SETS["box"].box.upper)
        assert state.x.tobytes() == expected.tobytes()
    state = AdaMMState.start(x0, ("x",))
    signsgd_update(state, g.copy(), 0.125, AdaMMConfig())
    assert state.x[2] == x0[2] and np.all(state.x[[0, 1, 3]] != x0[[0, 1, 3]])  # sign(0) = 0


def test_adam_matches_its_float64_reference():
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal(500).astype(np.float32)
    gradients = [(rng.standard_normal(500) * np.exp(rng.uniform(-5, 5, 500))).astype(np.float32) for _ in range(30)]
    config = AdaMMConfig(beta1=0.8, beta2=0.99, eps=1e-6)
    state = AdaMMState.start(x0, STATE_VECTORS["zo-adam"])
    x, m, v = x0.astype(np.float64), np.zeros(500), np.zeros(500)
    scale = np.abs(x)
    for t, g32 in enumerate(gradients, start=1):
        adam_update(state, g32.copy(), 0.01, config)
        g = g32.astype(np.float64)
        m, v = 0.8 * m + 0.2 * g, 0.99 * v + 0.01 * g * g
        step = 0.01 / (1 - 0.8**t) * m / (np.sqrt(v / (1 - 0.99**t)) + 1e-6)
        x, scale = x - step, scale + np.abs(step)
    assert np.all(np.abs(state.x - x) <= 8 * 30 * 2.0**-24 * scale)
    # bias correction: the first step moves each coordinate by about lr
    first = AdaMMState.start(x0, STATE_VECTORS["zo-adam"])
    adam_update(first, gradients[0].copy(), 0.01, config)
    clear = np.abs(gradients[0]) > 1e-3  # where eps is negligible
    assert np.allclose(np.abs(first.x - x0)[clear], 0.01, rtol=1e-3)


def _steps(config: SessionConfig, count: int, x0) -> list:
    """Records of ``count`` steps with values of a fixed quadratic, each made from the state
    it applies to (so that a replay must reproduce every intermediate state)."""
    optimizer = Optimizer.start(config, x0)
    records = []
    for _ in range(count):
        x = optimizer.state.x.astype(np.float64)
        if config.takes_values:
            f_x = float(np.sum((x - 1.0) ** 2))
            record = optimizer.zo_record(f_x, f_x + np.linspace(-1, 2, config.directions) * (x[0] + 2))
        else:
            record = optimizer.fo_record(2 * (x - 1.0) * np.arange(1, x.size + 1))
        optimizer.apply(record)
        records.append(record)
    return records


@pytest.mark.parametrize("kind", list(SETS))
@pytest.mark.parametrize("method", METHODS)
def test_the_state_survives_a_checkpoint_and_replay(method, kind):
    config = SessionConfig(dim=6, method=method, lr=0.05, directions=3, seed=9, constraint=SETS[kind])
    x0 = np.full(6, 0.05, np.float32)
    x0 = x0 if config.constraint is None else config.constraint.project(x0)
    records = _steps(config, 12, x0)
    straight = Optimizer.start(config, x0)
    for record in records:
        straight.apply(record)
        assert config.constraint is None or config.constraint.violation(straight.state.x) is None
    # checkpoint after 5 steps as a service would write it: the kept vectors in a frame
    halfway = Optimizer.start(config, x0)
    for record in records[:5]:
        halfway.apply(record)
    fields, vectors = wire.decode(wire.encode({"step": halfway.step}, state_vectors(method, halfway.state)))
    assert list(vectors) == list(STATE_VECTORS[method])
    resumed = Optimizer(config, state_from_vectors(method, vectors, fields["step"]), config.lr, config.mu)
    for record in records[5:]:
        resumed.apply(record)
    for name in ("x", "m", "v", "v_hat"):
        assert getattr(resumed.state, name).tobytes() == getattr(straight.state, name).tobytes(), name
    assert resumed.step == straight.step == 12 and not np.array_equal(straight.state.x, x0)


def test_a_checkpoint_must_hold_the_kept_vectors():
    x = np.zeros(3, np.float32)
    with pytest.raises(InvalidArgument, match="a zo-adam state needs the vectors x, m, v; missing v"):
        state_from_vectors("zo-adam", {"x": x, "m": x}, 0)
    with pytest.raises(InvalidArgument, match="state vector m has 2 values, x has 3"):
        state_from_vectors("zo-adamm", {"x": x, "m": x[:2], "v": x, "v_hat": x}, 0)
    with pytest.raises(InvalidArgument, match="method must be one of"):
        state_from_vectors("adam", {"x": x}, 0)
    assert state_from_vectors("zo-sgd", {"x": x, "m": x}, 4).step == 4  # extra vectors are ignored


def test_what_each_method_takes():
    values = {m: Optimizer.start(SessionConfig(dim=3, method=m), np.zeros(3)) for m in METHODS}
    for method, optimizer in values.items():
        if method == "adamm":
            with pytest.raises(InvalidArgument, match="only sessions of zo-adamm, zo-sgd, zo-signsgd, zo-adam take "
                                                      "function values.*method is 'adamm'"):
                optimizer.zo_record(0.0, [1.0])
            assert optimizer.config.evaluations_per_step == 1
        else:
            with pytest.raises(InvalidArgument, match=f"only sessions of adamm take a gradient.*'{method}'"):
                optimizer.fo_record(np.zeros(3))
            assert optimizer.zo_record(0.0, [1.0]).coefficients.shape == (1,)
            assert optimizer.config.takes_values and optimizer.config.evaluations_per_step == 2


def test_normalizer_belongs_to_the_amsgrad_methods():
    SessionConfig(dim=2, method="adamm", normalizer="v")
    with pytest.raises(InvalidArgument, match="normalizer applies to zo-adamm and adamm only, not zo-adam"):
        SessionConfig(dim=2, method="zo-adam", normalizer="v")


STEPS_IN_A_FRESH_PROCESS = """
import hashlib, numpy as np
from zoadamm import METHODS, Ball, Box, FeasibleSet, Optimizer, SessionConfig
rng = np.random.default_rng(4)
dim = 70_001
x0 = (rng.standard_normal(dim) * 0.1).astype(np.float32)
sets = [None, FeasibleSet(box=Box(-0.15, 0.15)), FeasibleSet(ball=Ball("2", 0.0, 25.0)),
        FeasibleSet(box=Box(-0.15, 0.2), ball=Ball("2", 0.01, 25.0))]
digest = hashlib.sha256()
for method in METHODS:
    for feasible_set in sets:
        config = SessionConfig(dim=dim, method=method, lr=0.01, directions=2, seed=5, constraint=feasible_set)
        optimizer = Optimizer.start(config, feasible_set.project(x0) if feasible_set else x0)
        for step in range(4):
            if config.takes_values:
                record = optimizer.zo_record(1.0, [1.5 + step, 0.25])
            else:
                record = optimizer.fo_record(rng.standard_normal(dim))
            optimizer.apply(record)
        digest.update(optimizer.state.x.tobytes())
print(digest.hexdigest())
"""


def test_the_same_bits_in_a_fresh_process(fresh_python):
    namespace: dict = {}
    exec(STEPS_IN_A_FRESH_PROCESS.replace("print(digest.hexdigest())", "result = digest.hexdigest()"), namespace)
    assert fresh_python(STEPS_IN_A_FRESH_PROCESS).strip() == namespace["result"]
