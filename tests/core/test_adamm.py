"""AdaMM against Algorithm 1 written out in float64, and bit-identical replay of step records."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from zoadamm import AdaMMConfig, AdaMMState, Optimizer, SessionConfig, adamm_update, directions

UNIT_ROUNDOFF = 2.0**-24  # float32


def reference_run(x0, gradients, lrs, beta1, beta2, eps, normalizer):
    """Algorithm 1 (projection = identity) in float64, plus error scales for each quantity.

    The scales are the same recurrences on absolute values: a float32 rounding error is
    relative to the size of the terms that were added, not to a result that cancelled to ~0.
    """
    x = np.asarray(x0, dtype=np.float64)
    m, v, v_hat = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    x_scale, m_scale = np.abs(x), np.zeros_like(x)
    for g32, lr in zip(gradients, lrs, strict=True):
        g = g32.astype(np.float64)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_hat = np.maximum(v_hat, v)
        m_scale = beta1 * m_scale + (1 - beta1) * np.abs(g)
        denominator = np.sqrt(v_hat if normalizer == "v_hat" else v) + eps
        x = x - lr * m / denominator
        x_scale = x_scale + lr * m_scale / denominator
    return {"x": (x, x_scale), "m": (m, m_scale), "v": (v, v), "v_hat": (v_hat, v_hat)}


def random_gradients(rng, dim, steps):
    """Signs and magnitudes over six decades; a few coordinates stay exactly zero throughout."""
    gradients = []
    for _ in range(steps):
        g = rng.standard_normal(dim) * np.exp(rng.uniform(-7, 7, dim))
        g[:5] = 0.0  # v stays 0 there: the eps guard must keep x finite
        gradients.append(g.astype(np.float32))
    return gradients


@pytest.mark.parametrize("normalizer", ["v_hat", "v"])
@pytest.mark.parametrize("beta1, beta2, eps", [(0.9, 0.999, 1e-8), (0.5, 0.9, 1e-6), (0.0, 0.99, 1e-8)])
def test_matches_algorithm_1_in_float64(normalizer, beta1, beta2, eps):
    rng = np.random.default_rng(20190105)
    dim, steps = 2000, 20
    x0 = rng.standard_normal(dim).astype(np.float32)
    gradients = random_gradients(rng, dim, steps)
    lrs = [float(lr) for lr in rng.uniform(1e-4, 1e-1, steps)]
    config = AdaMMConfig(beta1=beta1, beta2=beta2, eps=eps, normalizer=normalizer)

    state = AdaMMState.start(x0)
    for g, lr in zip(gradients, lrs, strict=True):
        adamm_update(state, g.copy(), lr, config)
    assert state.step == steps

    # each step adds at most a handful of float32 roundings (about 4) to each quantity, and the
    # decays only shrink older errors: a linear bound in the number of steps
    tolerance = 4 * steps * UNIT_ROUNDOFF
    for name, (expected, scale) in reference_run(x0, gradients, lrs, beta1, beta2, eps, normalizer).items():
        actual = getattr(state, name).astype(np.float64)
        assert np.all(np.isfinite(actual)), name
        excess = np.abs(actual - expected) - tolerance * scale
        assert excess.max() <= 0.0, f"{name}: {np.abs(actual - expected).max()} beyond {tolerance} of scale"
    assert not np.array_equal(state.x, x0)


def test_v_and_v_hat_normalizers_differ_once_v_decays():
    # a large gradient then small ones: v decays, v_hat keeps the maximum, so steps differ
    x0 = np.zeros(3, dtype=np.float32)
    big, small = np.full(3, 10.0, np.float32), np.full(3, 0.01, np.float32)
    states = {}
    for normalizer in ("v_hat", "v"):
        state = AdaMMState.start(x0)
        for g in (big, small, small, small):
            adamm_update(state, g.copy(), 0.1, AdaMMConfig(beta2=0.5, normalizer=normalizer))
        states[normalizer] = state
    assert np.all(states["v"].v < states["v"].v_hat)
    np.testing.assert_array_equal(states["v"].v_hat, states["v_hat"].v_hat)
    assert np.all(np.abs(states["v"].x) > np.abs(states["v_hat"].x))  # smaller divisor, longer step


# --- replay: the service and a mirroring client must hold the same bits -------------------
def _objective(x: np.ndarray) -> float:
    x64 = x.astype(np.float64)
    return float(0.5 * np.sum(np.arange(1, x.size + 1) * x64**2) + x64.sum())


def _drive(config: SessionConfig, x0: np.ndarray, steps: int) -> tuple[Optimizer, list]:
    """Run a session in-process; return it and the records it produced."""
    optimizer = Optimizer.start(config, x0)
    records = []
    for _ in range(steps):
        if config.method == "adamm":
            x = optimizer.state.x.astype(np.float64)
            record = optimizer.fo_record(np.arange(1, x.size + 1) * x + 1.0)
        else:
            record = _zo_record(optimizer)
        optimizer.apply(record)
        records.append(record)
    return optimizer, records


def _zo_record(optimizer: Optimizer):
    cfg, x, mu = optimizer.config, optimizer.state.x, np.float32(optimizer.mu)
    u = directions(cfg.seed, optimizer.step, cfg.directions, cfg.dim, cfg.distribution)
    plus = [_objective(x + mu * row) for row in u]
    if cfg.difference == "central":
        return optimizer.zo_record(0.0, plus, [_objective(x - mu * row) for row in u])
    return optimizer.zo_record(_objective(x), plus)


SESSIONS = [
    SessionConfig(dim=300, lr=0.05, mu=0.01, directions=3, seed=7),
    SessionConfig(dim=300, lr=0.05, mu=0.01, directions=2, seed=2**64 - 1,
                  distribution="gaussian", difference="central", normalizer="v"),
    SessionConfig(dim=300, lr=0.05, method="adamm"),
]


def _digest(optimizer: Optimizer) -> str:
    s = optimizer.state
    return hashlib.sha256(b"".join(a.tobytes() for a in (s.x, s.m, s.v, s.v_hat))).hexdigest()


def replay_digests() -> list[str]:
    """Digests of every session in ``SESSIONS`` after 25 steps (run in a child process too)."""
    x0 = np.linspace(-1.0, 1.0, 300, dtype=np.float32)
    return [_digest(_drive(config, x0, 25)[0]) for config in SESSIONS]


@pytest.mark.parametrize("config", SESSIONS, ids=["zo-sphere-forward", "zo-gaussian-central", "fo"])
def test_same_records_give_bit_identical_states(config):
    x0 = np.linspace(-1.0, 1.0, config.dim, dtype=np.float32)
    driver, records = _drive(config, x0, 25)
    mirror = Optimizer.start(config, x0)  # built separately: shares no arrays with the driver
    for record in records:
        mirror.apply(record)
    for name in ("x", "m", "v", "v_hat"):
        assert getattr(mirror.state, name).tobytes() == getattr(driver.state, name).tobytes()
    assert mirror.step == driver.step == 25
    assert not np.array_equal(driver.state.x, x0)  # the records did move x


def test_replay_is_bit_identical_in_a_fresh_process(fresh_python):
    here = str(Path(__file__).resolve().parent)
    code = f"import sys; sys.path.insert(0, {here!r}); import test_adamm; print(*test_adamm.replay_digests())"
    assert fresh_python(code).split() == replay_digests()
