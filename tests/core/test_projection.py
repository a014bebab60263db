"""The projection onto X under a diagonal metric: feasible, optimal by its KKT conditions,
equal to a brute-force solution, feasible again after float32 rounding, the same bits in
every process."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import NonlinearConstraint, minimize

from zoadamm import Ball, Box, FeasibleSet, _ball_start, projection
from zoadamm._ball_kernel import BLOCK
from zoadamm.projection import squared_distance

KKT_TOLERANCE = 1e-10


def random_set(rng, dim: int, kind: str) -> FeasibleSet:
    """A box, an l-inf or l2 ball, or a box cut by an l2 ball (whose center may lie outside
    the box), with vector or scalar numbers."""
    center = rng.standard_normal(dim).astype(np.float32)
    radius = float(rng.uniform(0.2, 2.0)) * (np.sqrt(dim) if kind != "inf" else 1.0)
    if kind == "box":
        lower = rng.standard_normal(dim) - rng.uniform(0.05, 1.5, dim)
        return FeasibleSet(box=Box(lower, lower + rng.uniform(0.1, 3.0, dim)))
    if kind in ("2", "inf"):
        return FeasibleSet(ball=Ball(kind, center if rng.random() < 0.7 else 0.25, radius))
    inside = center + rng.uniform(-0.5, 0.5, dim) * radius / np.sqrt(dim)  # the center may leave the box
    box = Box(inside - rng.uniform(0.0, 1.5, dim), inside + rng.uniform(0.0, 1.5, dim))
    return FeasibleSet(box=box, ball=Ball("2", center, radius))


def random_point(rng, dim: int):
    """Mostly outside: scaled so that some points land near the boundary, some far away."""
    return rng.standard_normal(dim) * 10.0 ** rng.uniform(-0.5, 1.5), np.exp(rng.uniform(-4, 4, dim))


def kkt_residuals(x, a, weights, feasible_set: FeasibleSet) -> dict[str, float]:
    """The relative violations of the weighted problem's KKT conditions at x (0 when exact):
    feasibility, stationarity of the Lagrangian on the free coordinates, the signs of the box
    multipliers, and complementary slackness, each relative to the size of its terms."""
    lower, upper, _ = (np.asarray(b, np.float64) for b in np.broadcast_arrays(*feasible_set.bounds, x))
    pull = weights * (x - a)  # half the objective's gradient
    scale = float(np.max(np.abs(pull))) + 1e-300
    at_lower, at_upper = x <= lower, x >= upper
    residuals = {
        "below": float(np.max(lower - x)) / (1 + np.max(np.abs(x))),
        "above": float(np.max(x - upper)) / (1 + np.max(np.abs(x))),
    }
    lam, shift = 0.0, np.zeros_like(x)
    if feasible_set.sphere is not None:
        center, radius = feasible_set.sphere
        shift = x - np.asarray(center, np.float64)
        norm = float(np.linalg.norm(shift))
        residuals["outside ball"] = (norm - radius) / radius
        free = ~(at_lower | at_upper)
        # the multiplier that best explains the free coordinates; >= 0 by its sign test below
        lam = max(0.0, -float(pull[free] @ shift[free]) / max(float(shift[free] @ shift[free]), 1e-300))
        residuals["slackness"] = lam * (radius - norm) / (scale + lam * radius)
    gradient = pull + lam * shift  # d/dx of the Lagrangian / 2, without the box's multipliers
    scale = scale + lam * float(np.max(np.abs(shift)))
    free = ~(at_lower | at_upper)
    residuals["stationary"] = float(np.max(np.abs(gradient[free]), initial=0.0)) / scale
    residuals["lower multiplier"] = float(np.max(-gradient[at_lower], initial=0.0)) / scale
    residuals["upper multiplier"] = float(np.max(gradient[at_upper], initial=0.0)) / scale
    return residuals


@pytest.mark.parametrize("kind", ["box", "inf", "2", "box+2"])
@pytest.mark.parametrize("dim", [1, 2, 3, 17, 1000, 10_000])
def test_satisfies_the_kkt_conditions(kind, dim):
    rng = np.random.default_rng([dim, len(kind)])
    for _ in range(6 if dim < 10_000 else 3):
        feasible_set = random_set(rng, dim, kind)
        a, weights = random_point(rng, dim)
        x = feasible_set.project(a, weights=weights)
        assert x.dtype == np.float64 and feasible_set.violation(x) is None
        residuals = kkt_residuals(x, a, weights, feasible_set)
        assert max(residuals.values()) <= KKT_TOLERANCE, residuals


@pytest.mark.parametrize("dim", [1, 2, 3, 17, 1000, 10_000])
def test_the_start_from_the_moments_satisfies_the_kkt_conditions(dim, monkeypatch):
    """The weighted ball from d = MOMENTS_FROM on, here at every d: few distinct weights (d < 4)
    leave the moments fewer points than the rule wants, and the weights span e^-4 to e^4."""
    monkeypatch.setattr(projection, "MOMENTS_FROM", 1)
    rng = np.random.default_rng([dim, 7])
    for _ in range(6 if dim < 10_000 else 3):
        feasible_set = random_set(rng, dim, "2")
        a, weights = random_point(rng, dim)
        x = feasible_set.project(a, weights=weights)
        assert x.dtype == np.float64 and feasible_set.violation(x) is None
        residuals = kkt_residuals(x, a, weights, feasible_set)
        assert max(residuals.values()) <= KKT_TOLERANCE, residuals


def test_a_weighted_ball_far_outside_takes_three_passes(monkeypatch):
    """The moments, one evaluation, the write: with the multiplier large against the weights'
    spread (as on AdaMM's steps that leave the ball), the moments' root is close enough that the
    one evaluation's Halley step ends the search."""
    rng = np.random.default_rng(11)
    dim = projection.MOMENTS_FROM + 5
    center = rng.standard_normal(dim).astype(np.float32)
    weights = np.exp(rng.uniform(-1, 1, dim)).astype(np.float32)
    a = center + rng.standard_normal(dim)
    radius = float(np.linalg.norm(a - center)) / 5
    passes = []
    ball = projection._Ball

    def counted(name, original):
        return lambda *args: passes.append(name) or original(*args)

    for name in ("moments", "evaluate"):
        monkeypatch.setattr(ball, name, counted(name, getattr(ball, name)))
    x = projection.project_ball(a, center, radius, weights=weights)
    assert passes == ["moments", "evaluate"]
    residuals = kkt_residuals(x, a, weights.astype(np.float64), FeasibleSet(ball=Ball("2", center, radius)))
    assert max(residuals.values()) <= KKT_TOLERANCE, residuals


def brute_force(a, weights, feasible_set: FeasibleSet) -> np.ndarray:
    """scipy's SLSQP on the whole problem finds the active set; then coordinates it put on the
    box stay there and trust-constr solves the rest with the ball as an equality, to 1e-14 in
    the Lagrangian's gradient (SLSQP alone stops near 1e-8 in x on a curved boundary)."""
    center, radius = (np.asarray(feasible_set.sphere[0], np.float64) * np.ones_like(a)), feasible_set.sphere[1]
    lower, upper = (np.asarray(b, np.float64) * np.ones_like(a) for b in feasible_set.bounds)
    bounds = None if feasible_set.box is None else list(zip(lower, upper, strict=True))
    objective, gradient = (lambda x: weights @ (x - a) ** 2), (lambda x: 2 * weights * (x - a))
    ball = {"type": "ineq", "fun": lambda x: radius**2 - (x - center) @ (x - center),
            "jac": lambda x: -2 * (x - center)}
    x = minimize(objective, np.clip(center, lower, upper), jac=gradient, constraints=[ball], bounds=bounds,
                 method="SLSQP", options={"ftol": 1e-16, "maxiter": 1000}).x
    if (x - center) @ (x - center) < radius**2 * (1 - 1e-6):
        return x  # the ball is not active
    on_box = (np.abs(x - lower) < 1e-7) | (np.abs(x - upper) < 1e-7)
    x[on_box] = np.where(np.abs(x - lower) < np.abs(x - upper), lower, upper)[on_box]
    free = ~on_box
    held = (x[on_box] - center[on_box]) @ (x[on_box] - center[on_box])
    h, af, cf = weights[free], a[free], center[free]
    sphere = NonlinearConstraint(lambda z: (z - cf) @ (z - cf) + held, radius**2, radius**2,
                                 jac=lambda z: 2 * (z - cf)[None], hess=lambda z, v: 2 * v[0] * np.eye(z.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trust-constr warns that it approximates nothing here
        x[free] = minimize(lambda z: h @ (z - af) ** 2, x[free], jac=lambda z: 2 * h * (z - af),
                           hess=lambda z: 2 * np.diag(h), constraints=[sphere], method="trust-constr",
                           options={"xtol": 1e-16, "gtol": 1e-14, "maxiter": 2000}).x
    return x


@pytest.mark.parametrize("kind", ["2", "box+2"])
def test_matches_a_brute_force_solution(kind):
    rng = np.random.default_rng(20130101 + len(kind))
    for trial in range(16):
        dim = 1 + trial % 5
        feasible_set = random_set(rng, dim, kind)
        a = rng.standard_normal(dim) * 3
        weights = np.exp(rng.uniform(-2, 2, dim))
        x = feasible_set.project(a, weights=weights)
        np.testing.assert_allclose(x, brute_force(a, weights, feasible_set), rtol=0, atol=1e-8)


def test_the_metric_matters_for_the_l2_ball_only():
    rng = np.random.default_rng(3)
    a, weights = rng.standard_normal(50) * 5, np.exp(rng.uniform(-3, 3, 50))
    box = FeasibleSet(box=Box(-1.0, 1.0))
    np.testing.assert_array_equal(box.project(a, weights=weights), np.clip(a, -1, 1))
    ball = FeasibleSet(ball=Ball("2", 0.0, 1.0))
    euclidean, weighted = ball.project(a), ball.project(a, weights=weights)
    np.testing.assert_allclose(euclidean, a / np.linalg.norm(a) * (1 - 2.0**-44), rtol=1e-15)
    # each is the nearest point in its own metric, and they are far apart
    assert weights @ (weighted - a) ** 2 < weights @ (euclidean - a) ** 2
    assert np.linalg.norm(euclidean - a) < np.linalg.norm(weighted - a)
    assert np.linalg.norm(weighted - euclidean) > 0.1


@pytest.mark.parametrize("kind", ["box", "inf", "2", "box+2"])
def test_float32_results_stay_feasible_and_within_an_ulp(kind):
    rng = np.random.default_rng(32)
    for dim in (1, 5, 300, 2 * BLOCK + 7):
        feasible_set = random_set(rng, dim, kind)
        a, weights = random_point(rng, dim)
        a32, weights32 = a.astype(np.float32), weights.astype(np.float32)
        x32 = feasible_set.project(a32, weights=weights32)
        exact = feasible_set.project(a32.astype(np.float64), weights=weights32.astype(np.float64))
        assert x32.dtype == np.float32 and feasible_set.violation(x32) is None
        if feasible_set.sphere is not None:  # strictly inside, in the same sum as the set checks
            center, radius = feasible_set.sphere
            assert squared_distance(x32, center) <= radius**2
        ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
        assert np.all(np.abs(x32 - exact) <= ulp), kind


@pytest.mark.parametrize("center", [1000.0, "vector"])
def test_float64_results_stay_inside_a_small_ball_far_from_the_origin(center):
    """Far from the origin a rounding of c's size is a large part of a small radius: the float64
    write steps back toward c where c + shift rounded outward, as the float32 write does."""
    rng = np.random.default_rng(64)
    for dim in (1, 10, 3000):
        c = np.float32(1000.0) if center == 1000.0 else (500 + 500 * rng.random(dim)).astype(np.float32)
        feasible_set = FeasibleSet(ball=Ball("2", c, 1e-3))
        for weights in (None, np.exp(rng.uniform(-20, 20, dim))):
            for _ in range(20):
                x = feasible_set.project(np.float64(c) + rng.standard_normal(dim), weights=weights)
                assert x.dtype == np.float64 and feasible_set.violation(x) is None, feasible_set.violation(x)
                assert squared_distance(x, feasible_set.sphere[0]) <= 1e-3**2


def faces_at_the_kinks(seed: int, dim: int) -> tuple[FeasibleSet, np.ndarray, np.ndarray]:
    """A box cut by an l2 ball where half the coordinates meet an upper face within a billionth
    of the root's multiplier: ||x(lam) - c|| bends at each of them, near the root."""
    rng = np.random.default_rng(seed)
    lam = 10 ** rng.uniform(-2, 2)
    weights = np.exp(rng.uniform(-3, 3, dim)).astype(np.float32).astype(np.float64)
    center = np.ones(dim)
    kink = rng.random(dim) < 0.5
    target = np.where(kink, rng.uniform(-0.5, 0.5, dim), rng.uniform(-1e-3, 1e-3, dim))
    a = (center + (target - center) * (weights + lam) / weights).astype(np.float32).astype(np.float64)
    at_root = center + weights * (a - center) / (weights + lam)
    upper = np.full(dim, 1e3, np.float32)
    upper[kink] = (at_root[kink] * (1 + rng.normal(0, 1e-9, kink.sum()))).astype(np.float32)
    radius = float(np.sqrt(np.sum((np.minimum(at_root, upper) - center) ** 2)))
    return FeasibleSet(box=Box(np.full(dim, -1e4, np.float32), upper), ball=Ball("2", center, radius)), a, weights


@pytest.mark.parametrize("seed", range(6))
def test_a_box_whose_faces_bend_the_norm_near_the_root_is_solved_exactly(seed):
    """Where a small step near the root crosses a kink of ||x(lam) - c||, it says nothing of how
    far the root is: the answer is feasible and satisfies the KKT conditions all the same."""
    feasible_set, a, weights = faces_at_the_kinks(seed, 2000)
    x = feasible_set.project(a, weights=weights)
    assert feasible_set.violation(x) is None
    assert max(kkt_residuals(x, a, weights, feasible_set).values()) <= KKT_TOLERANCE
    x32 = feasible_set.project(a.astype(np.float32), weights=weights.astype(np.float32))
    assert feasible_set.violation(x32) is None
    center, radius = feasible_set.sphere
    assert squared_distance(x32, center) <= radius**2


def test_in_place_equals_a_new_array():
    rng = np.random.default_rng(8)
    feasible_set = random_set(rng, 3 * BLOCK, "box+2")
    a, weights = (v.astype(np.float32) for v in random_point(rng, 3 * BLOCK))
    expected = feasible_set.project(a, weights=weights)
    feasible_set.project(a, weights=weights, out=a)
    assert a.tobytes() == expected.tobytes()


def test_points_inside_are_left_alone():
    feasible_set = FeasibleSet(box=Box(-2.0, 2.0), ball=Ball("2", 0.0, 3.0))
    a = np.array([1.5, -1.9, 0.3, 1.0], dtype=np.float32)
    assert feasible_set.project(a, weights=np.ones(4, np.float32)).tobytes() == a.tobytes()


PROJECT_IN_A_FRESH_PROCESS = """
import hashlib, numpy as np
from zoadamm import Ball, Box, FeasibleSet, _ball_start, projection
rng = np.random.default_rng(11)
dim = 100_003
a = (rng.standard_normal(dim) * 3).astype(np.float32)
weights = np.exp(rng.uniform(-3, 3, dim)).astype(np.float32)
lower = (rng.uniform(-4, -1, dim)).astype(np.float32)
digest = hashlib.sha256()
for feasible_set in (FeasibleSet(ball=Ball("2", 0.5, 300.0)),
                     FeasibleSet(box=Box(lower, 4.0), ball=Ball("2", 0.5, 300.0))):
    digest.update(feasible_set.project(a, weights=weights).tobytes())
    digest.update(feasible_set.project(a).tobytes())
print(digest.hexdigest())
"""


def test_the_same_bits_in_a_fresh_process(fresh_python):
    # several blocks, weighted and Euclidean, with and without a box: the sums have one order
    namespace: dict = {}
    exec(PROJECT_IN_A_FRESH_PROCESS.replace("print(digest.hexdigest())", "result = digest.hexdigest()"), namespace)
    assert fresh_python(PROJECT_IN_A_FRESH_PROCESS).strip() == namespace["result"]


@pytest.mark.parametrize("weights", [np.zeros(4), np.array([1.0, 0.0, 2.0, 1.0]), np.array([1.0, -1.0, 1.0, 1.0]),
                                     np.array([1.0, np.nan, 1.0, 1.0]), np.array([1.0, np.inf, 1.0, 1.0]),
                                     # float64 weights past float32's range underflow or overflow the sums
                                     np.array([1e-308, 1e-308, 1.0, 1.0]), np.full(4, 1e-310), np.full(4, 1e39)])
def test_weights_that_are_not_positive_are_refused(weights):
    from zoadamm import InvalidArgument

    ball = FeasibleSet(ball=Ball("2", 0.0, 1.0))
    with pytest.raises(InvalidArgument, match="weights must be finite positive numbers within float32's range "
                                              r"\(1.4e-45 to 3.4028235e\+38\): .* the first at index"):
        ball.project(np.full(4, 5.0), weights=weights)
    assert ball.violation(ball.project(np.full(4, 5.0), weights=np.ones(4))) is None


@pytest.mark.parametrize("a, weights, out, message", [
    (np.ones(1 << 20, np.float32), np.ones(3, np.float32), None, "weights has 3 values, the point has 1048576"),
    (np.ones(8), np.ones(4), None, "weights has 4 values, the point has 8"),
    (np.ones(4), None, np.empty(5), "out has 5 values, the point has 4"),
    (np.ones(4, np.float16), None, None, "must be a float32 or float64 vector .*got float16 array"),
    (np.ones(4, np.int64), None, None, "got int64 array"),
    (np.ones((2, 2)), None, None, r"got float64 array of shape \(2, 2\)"),
    ([1.0, 2.0], None, None, r"got \[1.0, 2.0\]"),
    (np.ones(4), np.ones(4, np.float16), None, "weights must be a float32 or float64 vector"),
    (np.array([1.0, np.inf, 0.0]), None, None, "an infinite value at index 1: its projection onto an l2 ball"),
    (np.array([0.0, 0.0, np.nan]), None, None, "the point has a NaN at index 2"),
    # ||a - c||^2 overflows float64: the point went to the center
    (np.array([1e154, 1e154, 0.0]), None, None, "a value beyond float32's range .* at index 0"),
    (np.array([1.0, 1e300, 0.0]), np.ones(3), None, "a value beyond float32's range .* at index 1"),
])
def test_a_point_the_projection_cannot_take_is_refused_before_any_pass(a, weights, out, message):
    """Where the compiled passes would read past a short vector or give a wrong answer."""
    from zoadamm import InvalidArgument

    with pytest.raises(InvalidArgument, match=message):
        FeasibleSet(ball=Ball("2", 0.0, 0.5)).project(a, weights=weights, out=out)


def test_the_set_s_vectors_must_have_the_point_s_length():
    from zoadamm import InvalidArgument

    for feasible_set in (FeasibleSet(box=Box(np.zeros(8), 1.0)), FeasibleSet(ball=Ball("2", np.zeros(8), 1.0)),
                         FeasibleSet(box=Box(-np.ones(3), 1.0), ball=Ball("2", 0.0, 0.5))):
        with pytest.raises(InvalidArgument, match="has 8 values, the point has 5|has 3 values, the point has 5"):
            feasible_set.project(np.zeros(5))
    # a NaN has no nearest point in a box either; an extreme weight on a box alone is refused too
    from zoadamm import InvalidArgument
    with pytest.raises(InvalidArgument, match="the point has a NaN at index 1"):
        FeasibleSet(box=Box(0.0, 1.0)).project(np.array([0.5, np.nan]))
    # the weights' whole float32 range projects onto the ball, to the point the weights' ratios give
    tiniest = float(np.finfo(np.float32).smallest_subnormal)
    for weights in ([tiniest, tiniest, 1.0], [3.4e38, tiniest, 1.0]):
        x = FeasibleSet(ball=Ball("2", 0.0, 1.0)).project(np.array([2.0, 2.0, 0.0]), weights=np.array(weights))
        assert np.allclose(x, [2 ** -0.5, 2 ** -0.5, 0.0] if weights[0] == weights[1] else [1.0, 0.0, 0.0])
    # a box alone clips an infinite coordinate, as it always did
    assert FeasibleSet(box=Box(0.0, 1.0)).project(np.array([np.inf, -np.inf])).tolist() == [1.0, 0.0]


def test_a_point_just_outside_a_boxed_ball_is_projected_onto_its_sphere():
    """Outside by a few float32 steps, with a box nowhere near: Newton's step rounded to 0 short of
    the root, the small jump past it could not cross it within the iterations, and the answer was
    x at lam = infinity, the center."""
    a = np.array([0.9670438766479492, 0.2546098530292511], np.float32)
    boxed = FeasibleSet(box=Box(-2.0, 2.0), ball=Ball("2", 0.0, 1.0))
    alone = FeasibleSet(ball=Ball("2", 0.0, 1.0))
    np.testing.assert_array_equal(boxed.project(a), alone.project(a))
    rng = np.random.default_rng(5)
    for _ in range(300):  # outside by 1e-16 to 1e-7 of the radius, with and without weights
        direction = rng.standard_normal(6)
        point = direction / np.linalg.norm(direction) * (1 + 10.0 ** rng.uniform(-16, -7))
        for weights in (None, np.exp(rng.uniform(-4, 4, 6))):
            x = boxed.project(point, weights=weights)
            assert np.linalg.norm(x) > 1 - 1e-9 and boxed.violation(x) is None
            # the box holds no coordinate: the ball's own projection (a point this near has no
            # KKT residual to speak of: x - a is at rounding's scale)
            np.testing.assert_allclose(x, alone.project(point, weights=weights), rtol=0, atol=1e-12)
    # far from the origin (|c| >> r): x - c rounds at c's scale, S(lam) stood still under Newton's
    # steps, and the search crept for all its iterations to end at the center again
    far = np.array([999.3169555664062, 999.2695922851562], np.float32)
    square = FeasibleSet(box=Box(999.0, 1001.0), ball=Ball("2", 1000.0, 1.0))
    np.testing.assert_array_equal(square.project(far), FeasibleSet(ball=Ball("2", 1000.0, 1.0)).project(far))


@pytest.mark.parametrize("a, weights, box, radius", [
    ([700.0, 500.0, -100.0], [1e12, 1e-18, 1e23], Box([0.999, -10, -10], [5, 10, 10]), 1.0),  # overshoot to 1e103
    ([3e38] * 7, None, Box(-5e-31, 1e-30), 1e-30),  # a root far past the weights' scale
])
def test_a_root_far_from_where_the_search_starts_is_found(a, weights, box, radius):
    """Newton overshot to about 1e103, and halving the bracket linearly took more halvings than
    the iterations allow; doubling from 1 to a multiplier near 1e68 did too: both answered the
    multiplier at infinity (or one far too large), not the minimiser."""
    a = np.array(a)
    weights = np.ones(a.size) if weights is None else np.array(weights)
    feasible_set = FeasibleSet(box=box, ball=Ball("2", 0.0, radius))
    x = feasible_set.project(a, weights=weights)
    assert feasible_set.violation(x) is None
    assert np.linalg.norm(x) > radius * (1 - 1e-9)  # on the sphere: the box alone holds no minimiser here
    assert max(kkt_residuals(x, a, weights, feasible_set).values()) <= KKT_TOLERANCE


def test_weights_of_two_values_far_apart_give_no_start_and_newton_from_0(monkeypatch):
    """From d = 2**14 the search starts at the root of a rule built from the weights' moments;
    with weights of two values 1e18 apart, rounding passed the test of a point more than the
    weights have, and the rule's solve divided by a zero pivot (a ZeroDivisionError, a 500)."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal(projection.MOMENTS_FROM)
    a = (a * 1.5 / np.linalg.norm(a)).astype(np.float32)
    weights = np.full(a.size, 1e-3, np.float32)
    weights[rng.integers(0, a.size, int(a.size * rng.uniform(0.001, 0.5)))] = 1e15
    ball = FeasibleSet(ball=Ball("2", 0.0, 1.0))
    x = ball.project(a, weights=weights)
    assert ball.violation(x) is None and squared_distance(x, 0.0) > 1 - 1e-6
    wide, heavy = a.astype(np.float64), weights.astype(np.float64)
    x = ball.project(wide, weights=heavy)
    monkeypatch.setattr(_ball_start, "start", lambda moments, target: None)  # Newton from 0 throughout
    np.testing.assert_allclose(x, ball.project(wide, weights=heavy), rtol=1e-12, atol=0)
