"""ZO estimators: the documented formulas, unbiasedness on a quadratic, and ZO-AdaMM convergence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoadamm import (
    Optimizer,
    SessionConfig,
    assemble_gradient,
    dimension_factor,
    direction,
    directions,
    zo_coefficients,
    zo_gradient,
)

COMBINATIONS = [(dist, diff) for dist in ("sphere", "gaussian") for diff in ("forward", "central")]


def test_coefficients_follow_the_documented_formula():
    plus, minus, f_x = np.array([1.5, -2.0, 0.25]), np.array([0.5, 1.0, 0.75]), 1.0
    mu, q = 0.01, 3
    forward = zo_coefficients(f_x, plus, None, mu=mu, dim=50, distribution="sphere")
    np.testing.assert_array_equal(forward, (50.0 / (mu * q)) * (plus - f_x))
    central = zo_coefficients(f_x, plus, minus, mu=mu, dim=50, distribution="gaussian",
                              difference="central")
    np.testing.assert_array_equal(central, (1.0 / ((2.0 * mu) * q)) * (plus - minus))
    # workers that split a step report one baseline per direction
    per_direction = zo_coefficients(np.array([1.0, 2.0, 3.0]), plus, None, mu=mu, dim=50)
    np.testing.assert_array_equal(per_direction, (50.0 / (mu * q)) * (plus - [1.0, 2.0, 3.0]))
    assert dimension_factor(50, "sphere") == 50.0 and dimension_factor(50, "gaussian") == 1.0


@pytest.mark.parametrize("distribution", ["sphere", "gaussian"])
def test_assembly_is_float32_in_index_order_from_positive_zero(distribution):
    coefficients = np.array([0.0, 3.25, -1e-3, 7.0, -2.5], dtype=np.float64)
    coefficients[0] = -0.0  # a first term of -0.0 must still leave +0.0 where u is 0
    g = assemble_gradient(coefficients, seed=9, step=4, dim=257, distribution=distribution)
    expected = np.zeros(257, dtype=np.float32)
    for index, c in enumerate(coefficients):
        expected = expected + np.float32(c) * direction(9, 4, index, 257, distribution)
    assert g.dtype == np.float32
    assert g.tobytes() == expected.tobytes()


@pytest.mark.parametrize("q, dim", [(300, 2000), (3, 40_000)])  # several blocks; one row at a time
def test_assembly_is_the_same_bits_whatever_the_blocks_and_with_directions_passed(q, dim):
    coefficients = np.linspace(-2.0, 2.0, q)
    u = directions(5, 6, q, dim, "sphere")
    expected = np.zeros(dim, dtype=np.float32)
    for index, c in enumerate(coefficients):
        expected = expected + np.float32(c) * u[index]
    made = assemble_gradient(coefficients, seed=5, step=6, dim=dim, distribution="sphere")
    passed = assemble_gradient(coefficients, seed=5, step=6, dim=dim, distribution="sphere", directions=u)
    assert made.tobytes() == passed.tobytes() == expected.tobytes()


@pytest.mark.parametrize("distribution, difference", COMBINATIONS)
def test_zo_gradient_is_coefficients_then_assembly(distribution, difference):
    x = np.linspace(-1, 1, 40, dtype=np.float32)
    f = lambda z: float(np.sum(np.cos(z.astype(np.float64))))  # noqa: E731
    g, evaluations = zo_gradient(f, x, mu=0.01, seed=3, step=11, directions=3,
                                 distribution=distribution, difference=difference)
    u = directions(3, 11, 3, 40, distribution)
    mu = np.float32(0.01)
    plus = [f(x + mu * row) for row in u]
    if difference == "central":
        c = zo_coefficients(0.0, plus, [f(x - mu * row) for row in u], mu=0.01, dim=40,
                            distribution=distribution, difference="central")
        assert evaluations == 6
    else:
        c = zo_coefficients(f(x), plus, None, mu=0.01, dim=40, distribution=distribution)
        assert evaluations == 4
    expected = assemble_gradient(c, seed=3, step=11, dim=40, distribution=distribution)
    assert g.tobytes() == expected.tobytes()


# --- unbiasedness ----------------------------------------------------------------------------
@pytest.mark.parametrize("distribution, difference", COMBINATIONS)
def test_mean_estimate_is_the_gradient_on_a_quadratic(distribution, difference):
    """For f = x'Ax/2 + b'x the mu-smoothed gradient is A x + b for any mu.

    Forward differences add (mu phi / 2)(u'Au) u to each estimate; its mean is zero only
    because the directions are symmetric in law, and the large mu below makes that term big
    enough that a skewed generator would fail.  Steps 0..N-1 are the independent draws.
    """
    rng = np.random.default_rng(1908)
    dim, q, draws, mu = 12, 4, 800, 0.5
    B = rng.standard_normal((dim, dim))
    A, b = (B + B.T) / 2, rng.standard_normal(dim)
    x = rng.standard_normal(dim).astype(np.float32)

    def f(z: np.ndarray) -> float:
        z = z.astype(np.float64)
        return float(0.5 * z @ A @ z + b @ z)

    estimates = np.array([
        zo_gradient(f, x, mu=mu, seed=77, step=step, directions=q,
                    distribution=distribution, difference=difference)[0]
        for step in range(draws)
    ], dtype=np.float64)
    gradient = A @ x.astype(np.float64) + b
    mean = estimates.mean(axis=0)
    standard_error = estimates.std(axis=0, ddof=1) / math.sqrt(draws)
    # five standard errors per coordinate: a false alarm has odds below 1e-5 over all coordinates
    assert np.all(np.abs(mean - gradient) <= 5 * standard_error)
    # and the test has power: a wrong factor (phi, the 1/2 of central) would be > 10 errors off
    assert np.max(standard_error) < 0.1 * np.max(np.abs(gradient))


# --- convergence -----------------------------------------------------------------------------
def _run(config: SessionConfig, x0: np.ndarray, f, steps: int) -> np.ndarray:
    """Drive a session the way a client does: evaluate at the step's directions, then apply."""
    optimizer = Optimizer.start(config, x0)
    work = np.empty(config.dim, dtype=np.float32)
    for _ in range(steps):
        x, mu = optimizer.state.x, np.float32(optimizer.mu)
        u = directions(config.seed, optimizer.step, config.directions, config.dim, config.distribution)
        if config.difference == "central":
            record = optimizer.zo_record(0.0, f(x + mu * u), f(x - mu * u))
        else:
            record = optimizer.zo_record(f(x)[0], f(x + mu * u))
        optimizer.apply(record, work)
    return optimizer.state.x


def test_converges_on_a_1000_dimensional_quadratic():
    """Measured: from f0 = 1955.1 to 8.3 in 1000 steps (q = 10, sphere, forward, lr = 0.02)."""
    dim = 1000
    curvature = np.logspace(0, 1, dim)  # condition number 10

    def f(rows: np.ndarray) -> np.ndarray:
        rows = np.atleast_2d(rows).astype(np.float64)
        return 0.5 * (curvature * rows**2).sum(axis=1)

    x0 = np.ones(dim, dtype=np.float32)
    config = SessionConfig(dim=dim, lr=0.02, mu=1e-3, directions=10, seed=1, schedule=None)
    f0, final = f(x0)[0], f(_run(config, x0, f, 1000))[0]
    assert f0 > 1900 and final < 20.0  # below 1% of the start


def test_converges_on_rosenbrock():
    """Measured: from f0 = 24.2 at (-1.2, 1) to 7.3e-5 at (0.991, 0.983) in 2000 steps
    (q = 2, sphere, central, lr = 0.05)."""

    def f(rows: np.ndarray) -> np.ndarray:
        rows = np.atleast_2d(rows).astype(np.float64)
        return (1 - rows[:, 0]) ** 2 + 100 * (rows[:, 1] - rows[:, 0] ** 2) ** 2

    x0 = np.array([-1.2, 1.0], dtype=np.float32)
    config = SessionConfig(dim=2, lr=0.05, mu=1e-3, directions=2, seed=3,
                           difference="central", schedule=None)
    x = _run(config, x0, f, 2000)
    assert f(x0)[0] == pytest.approx(24.2)
    assert f(x)[0] < 1e-3
    assert np.linalg.norm(x - 1.0) < 0.05
