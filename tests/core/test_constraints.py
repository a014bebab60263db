"""The feasible set as a value: parsed from its JSON shape, checked field by field, held in
float32 as x is, split into JSON and vectors and joined again, and x0 checked against it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from zoadamm import Ball, Box, FeasibleSet, InvalidArgument, Optimizer, SessionConfig, wire
from zoadamm.sdk.bounds import box_of

NAN, INF = math.nan, math.inf


def test_the_issue_shapes():
    box = FeasibleSet.from_dict({"box": {"lower": 0, "upper": 1}})
    assert (box.box.lower, box.box.upper, box.ball, box.dim) == (0.0, 1.0, None, None)
    ball = FeasibleSet.from_dict({"ball": {"norm": "2", "center": [0.0, 1.0, 2.0], "radius": 0.5}})
    assert ball.dim == 3 and ball.ball.center.dtype == np.float32 and ball.sphere[1] == 0.5
    both = FeasibleSet.from_dict({"box": {"lower": [-1, -2], "upper": 1}, "ball": {"norm": "inf", "center": 0.5,
                                                                                   "radius": 1}})
    lower, upper = both.bounds  # box ∩ l-inf ball is a box
    assert lower.tolist() == [-0.5, -0.5] and np.broadcast_to(upper, 2).tolist() == [1.0, 1.0]
    assert both.sphere is None


def test_bounds_round_inward_and_centers_to_nearest():
    feasible_set = FeasibleSet.from_dict({"box": {"lower": [0.1, -0.3], "upper": [0.3, 0.7]}})
    lower, upper = (np.asarray(b, np.float64) for b in feasible_set.bounds)
    assert np.all(lower >= [0.1, -0.3]) and np.all(upper <= [0.3, 0.7])  # inside the box as given
    assert np.all(np.asarray(lower, np.float32) == lower) and np.all(np.asarray(upper, np.float32) == upper)
    assert lower[0] == float(np.float32(0.1)) and lower[0] > 0.1  # already inside
    assert upper[0] == float(np.nextafter(np.float32(0.3), np.float32(0))) and upper[0] < 0.3  # one step down
    ball = FeasibleSet.from_dict({"ball": {"norm": "inf", "center": 0.1, "radius": 0.2}})
    assert ball.ball.center == float(np.float32(0.1))
    lower, upper = ball.bounds  # every float32 within them is within 0.2 of the held center
    assert float(ball.ball.center) - float(lower) <= 0.2 and float(upper) - float(ball.ball.center) <= 0.2
    assert float(np.nextafter(upper, np.float32(1))) - float(ball.ball.center) > 0.2


NORM_MESSAGE = r'constraint.ball.norm must be "2" or "inf" \(a string\), got '


@pytest.mark.parametrize("data, message", [
    ({"box": {"lower": 1, "upper": 0}}, r"constraint.box.lower > constraint.box.upper \(1.0 > 0.0\)"),
    ({"box": {"lower": [0, 2, 0], "upper": [1, 1, 1]}}, "constraint.box.lower > constraint.box.upper at index 1"),
    ({"box": {"lower": 0.1, "upper": 0.1}},  # the bounds as rounded, which is what crossed
     r"no float32 value lies within constraint.box: its bounds round inward to float32 \(0.10000000149011612 > "
     r"0.09999999403953552\)"),
    ({"box": {"lower": NAN, "upper": 1}}, "constraint.box.lower contains NaN or infinite values"),
    ({"box": {"lower": 0, "upper": [1, INF]}}, "constraint.box.upper contains NaN or infinite values"),
    ({"box": {"lower": -1e39, "upper": 0}}, r"constraint.box.lower is beyond float32's range \(it rounds to "
                                            r"infinity; float32's largest is 3.4028234663852886e\+38\)"),
    ({"box": {"lower": 3.4028235e38, "upper": 3.4028235e38}}, "constraint.box.lower is beyond float32's range"),
    ({"box": {"lower": -1, "upper": -3.4028235e38}}, "constraint.box.upper is beyond float32's range"),
    ({"box": {"lower": [0, 0], "upper": [1, 1, 1]}}, "constraint.box.upper has 3 values, constraint.box.lower has 2"),
    ({"box": {"lower": "0", "upper": 1}}, "constraint.box.lower must be a number or a list of numbers"),
    ({"box": {"lower": True, "upper": 1}}, "constraint.box.lower must be a number"),
    # JSON's strings and booleans inside a list, and integers beyond float64 (no 500)
    ({"box": {"lower": ["0", 0], "upper": 1}}, "constraint.box.lower must be a number or a flat list of numbers"),
    ({"box": {"lower": [True, 0], "upper": 2}}, "constraint.box.lower must be a number or a flat list of numbers"),
    ({"box": {"lower": 0, "upper": 10**309}}, "constraint.box.upper is beyond float32's range"),
    ({"box": {"lower": [0, -10**309], "upper": 1}}, "constraint.box.lower is beyond float32's range"),
    ({"ball": {"norm": "2", "center": [0, 10**309], "radius": 1}}, "constraint.ball.center is beyond float32's range"),
    ({"ball": {"norm": "2", "center": 0, "radius": 10**309}}, "constraint.ball.radius is beyond float32's range"),
    ({"ball": {"norm": "2", "center": 0, "radius": -10**309}}, "constraint.ball.radius must be finite and > 0"),
    ({"box": {"lower": [], "upper": 1}}, "constraint.box.lower must be a number or a non-empty list"),
    ({"box": {"lower": [[0]], "upper": 1}}, "constraint.box.lower must be a number or a flat list of numbers"),
    ({"box": {"upper": 1}}, "constraint.box.lower is missing"),
    ({"box": {"lower": 0, "upper": 1, "lo": 0}}, r"constraint.box has unknown fields 'lo'; it takes lower, upper"),
    ({"box": [0, 1]}, "constraint.box must be an object"),
    ({"ball": {"norm": "2", "center": 0, "radius": 0}}, "constraint.ball.radius must be finite and > 0, got 0"),
    ({"ball": {"norm": "2", "center": 0, "radius": -1}}, "constraint.ball.radius must be finite and > 0"),
    ({"ball": {"norm": "2", "center": 0, "radius": NAN}}, "constraint.ball.radius must be finite and > 0"),
    ({"ball": {"norm": "2", "center": 0, "radius": "1"}}, "constraint.ball.radius must be a number"),
    ({"ball": {"norm": "1", "center": 0, "radius": 1}}, NORM_MESSAGE + "'1'"),
    ({"ball": {"norm": 2, "center": 0, "radius": 1}}, NORM_MESSAGE + "2$"),
    ({"ball": {"norm": ["2"], "center": 0, "radius": 1}}, "constraint.ball.norm must be \"2\" or \"inf\""),
    ({"ball": {"norm": "2", "center": 0, "radius": 1e308}},
     r"constraint.ball.radius is beyond float32's range \(<= 3.4028234663852886e\+38\), got 1e\+308"),
    ({"ball": {"norm": "2", "center": [0, NAN], "radius": 1}}, "constraint.ball.center contains NaN"),
    ({"ball": {"norm": "2", "radius": 1}}, "constraint.ball.center is missing"),
    ({"box": {"lower": [0, 0], "upper": 1}, "ball": {"norm": "2", "center": [0, 0, 0], "radius": 1}},
     "constraint.ball.center has 3 values, constraint.box.lower has 2"),
    ({"box": {"lower": 2, "upper": 3}, "ball": {"norm": "inf", "center": 0, "radius": 1}},
     r"constraint.box and constraint.ball do not intersect \(2.0 > 1.0\)"),
    ({"box": {"lower": 2, "upper": 3}, "ball": {"norm": "2", "center": [0, 0], "radius": 2}},
     "constraint.box and constraint.ball do not overlap: the ball's center lies 2.82843 from the box, its radius is 2"),
    # numbers only: the dimension is not known yet, and each coordinate is as far
    ({"box": {"lower": -1, "upper": 1}, "ball": {"norm": "2", "center": 5, "radius": 1}},
     "the ball's center lies 4 from the box in each coordinate, its radius is 1$"),
    # the float32 center is farther than the radius by less than 6 digits show: all of them
    ({"box": {"lower": 0, "upper": 1}, "ball": {"norm": "2", "center": -0.1, "radius": 0.1 + 1e-10}},
     r"lies 0.10000000149011612 from the box in each coordinate, its radius is 0.1000000001$"),
    ({"box": {"lower": 0.1, "upper": 0.1}},
     r"\(0.10000000149011612 > 0.09999999403953552\); to pin a coordinate, give both bounds a value float32 holds "
     r"\(the nearest to 0.1 is 0.10000000149011612\)"),
    # a number beside a vector: the index is the vector's
    ({"box": {"lower": 0.1, "upper": [1.0, 0.1]}}, r"at index 1 .*the nearest to 0.1 is 0.10000000149011612"),
    ({}, "constraint needs a box, a ball or both"),
    ({"cube": {}}, r"constraint has unknown fields 'cube'"),
    ([0, 1], "constraint must be an object"),
])
def test_bad_sets_name_the_field(data, message):
    with pytest.raises(InvalidArgument, match=message):
        FeasibleSet.from_dict(data)


def test_vectors_travel_apart_from_the_json():
    config = SessionConfig(dim=3, method="zo-sgd", constraint=FeasibleSet(
        box=Box([-1, -2, -3], 4.0), ball=Ball("2", [0.5, 0.25, 0.0], 2.0)))
    fields, vectors = config.to_dict(), config.vectors()
    assert fields["constraint"] == {"box": {"upper": 4.0}, "ball": {"norm": "2", "radius": 2.0}}
    assert sorted(vectors) == ["constraint.ball.center", "constraint.box.lower"]
    # as a binary frame carries them: JSON header, float32 payload
    header, payload = wire.decode(wire.encode(fields, vectors))
    again = SessionConfig.from_dict(header, payload)
    assert again == config and hash(again.constraint) == hash(config.constraint)
    assert again.constraint.box.lower.tobytes() == config.constraint.box.lower.tobytes()
    assert SessionConfig.from_dict(json.loads(json.dumps(fields)), vectors) == config
    # lists inline in the JSON are read as the same vectors
    inline = {**fields, "constraint": {"box": {"lower": [-1, -2, -3], "upper": 4},
                                       "ball": {"norm": "2", "center": [0.5, 0.25, 0], "radius": 2}}}
    assert SessionConfig.from_dict(inline) == config


def test_split_configs_are_checked_when_joined():
    fields = {"dim": 2, "constraint": {"box": {"upper": 1.0}}}
    with pytest.raises(InvalidArgument, match="constraint.box.lower is missing"):
        SessionConfig.from_dict(fields)
    lower = np.zeros(2, np.float32)
    with pytest.raises(InvalidArgument, match=r"constraint.box.lower is given twice"):
        SessionConfig.from_dict({"dim": 2, "constraint": {"box": {"lower": 0, "upper": 1}}},
                                {"constraint.box.lower": lower})
    with pytest.raises(InvalidArgument, match=r"a session config has no vectors 'x0'"):
        SessionConfig.from_dict(fields, {"constraint.box.lower": lower, "x0": lower})
    with pytest.raises(InvalidArgument, match=r"constraint has unknown fields 'box.middle'"):
        SessionConfig.from_dict(fields, {"constraint.box.lower": lower, "constraint.box.middle": lower})
    with pytest.raises(InvalidArgument, match="constraint.box.lower has 2 values, the session has dim 3"):
        SessionConfig.from_dict({**fields, "dim": 3}, {"constraint.box.lower": lower})
    assert SessionConfig.from_dict(fields, {"constraint.box.lower": lower}).constraint.dim == 2


def test_numbers_that_round_to_float32s_largest_are_within_its_range():
    """3.4028235e38, float32's largest as numpy prints it, is a little beyond it in float64, and
    x0 took it where a bound did not: one-sided boxes over JSON write it for "no bound"."""
    biggest = float(np.finfo(np.float32).max)
    wide = FeasibleSet.from_dict({"box": {"lower": -3.4028235e38, "upper": [3.4028235e38, 1.0]}})
    assert wide.box.lower == -biggest and wide.box.upper.tolist() == [biggest, 1.0]
    assert FeasibleSet.from_dict({"ball": {"norm": "2", "center": 3.4028235e38, "radius": 1}}).ball.center == biggest


def test_a_box_and_a_ball_of_numbers_are_apart_in_more_dimensions_than_in_one():
    """In d dimensions a box [0, 1] is sqrt(d) from a center 2, 1 in one: the set of
    numbers is checked again once d is known, by the config, the optimizer and the projection."""
    fields = {"box": {"lower": 0, "upper": 1}, "ball": {"norm": "2", "center": 2, "radius": 1.8}}
    feasible_set = FeasibleSet.from_dict(fields)  # not empty in one dimension
    assert feasible_set.violation(feasible_set.project(np.zeros(1))) is None
    assert SessionConfig.from_dict({"dim": 3, "constraint": fields}).dim == 3  # sqrt(3) < 1.8
    for dim in (4, 9):
        with pytest.raises(InvalidArgument, match=f"center lies {math.sqrt(dim):.6g} from the box in {dim} "
                                                  "dimensions, its radius is 1.8"):
            feasible_set.check_dim(dim)
        with pytest.raises(InvalidArgument, match=f"in {dim} dimensions"):
            feasible_set.project(np.zeros(dim))
        with pytest.raises(InvalidArgument, match=f"in {dim} dimensions"):
            SessionConfig.from_dict({"dim": dim, "constraint": fields})
    touching = {**fields, "ball": {"norm": "2", "center": 2, "radius": 2.0}}  # at d = 4: the corner, no more
    with pytest.raises(InvalidArgument, match="do not overlap"):
        SessionConfig.from_dict({"dim": 4, "constraint": touching})
    assert SessionConfig.from_dict({"dim": 3, "constraint": touching}).constraint == FeasibleSet.from_dict(touching)


def test_configs_without_a_constraint_still_load():
    old = {"dim": 4, "method": "zo-adamm", "lr": 0.01, "mu": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
           "normalizer": "v_hat", "directions": 2, "distribution": "sphere", "difference": "forward", "seed": 5,
           "schedule": {"factor": 0.5, "patience": 2, "min_lr": 1e-6, "min_mu": 1e-6, "threshold": 1e-4}}
    config = SessionConfig.from_dict(old)
    assert config.constraint is None and config.vectors() == {}
    assert config.to_dict() == {**old, "constraint": None}
    assert SessionConfig.from_dict(config.to_dict()) == config


def test_x0_outside_is_refused_by_how_much():
    box = SessionConfig(dim=3, constraint=FeasibleSet(box=Box(0.0, 1.0)))
    with pytest.raises(InvalidArgument, match=r"x0 lies outside the session's constraint: x0 lies below "
                                              r"constraint.box at 2 coordinates \(by up to 0.5, at index 2\)"):
        Optimizer.start(box, [-0.25, 0.5, -0.5])
    with pytest.raises(InvalidArgument, match=r"x0 lies above constraint.box at 1 coordinate \(by up to 2"):
        Optimizer.start(box, [0.0, 3.0, 1.0])
    ball = SessionConfig(dim=2, constraint=FeasibleSet(ball=Ball("2", [1.0, 0.0], 1.0)))
    with pytest.raises(InvalidArgument, match=r"\|\|x0 - center\|\|_2 = 2 exceeds constraint.ball.radius 1 by 1"):
        Optimizer.start(ball, [3.0, 0.0])
    # just outside: the distance and the radius in as many digits as tell them apart (was "= 1 exceeds ... 1")
    just = FeasibleSet(ball=Ball("2", 0.0, 1.0)).violation(np.array([1.0000003, 0.0, 0.0, 0.0], np.float32), "x0")
    assert just == "||x0 - center||_2 = 1.00000036 exceeds constraint.ball.radius 1 by 3.58e-07"
    cube = SessionConfig(dim=2, constraint=FeasibleSet(ball=Ball("inf", 0.0, 1.0)))
    with pytest.raises(InvalidArgument, match=r"x0 lies above the l-inf constraint.ball at 1 coordinate \(by up "
                                              r"to 0.5, at index 1\)"):
        Optimizer.start(cube, [1.0, 1.5])
    # 0 lies on this cube's face as given (rounding puts the face at 1.5e-9): only index 1 is named
    tight = SessionConfig(dim=3, constraint=FeasibleSet(ball=Ball("inf", 0.1, 0.1)))
    with pytest.raises(InvalidArgument, match=r"x0 lies outside the session's constraint: x0 lies above the l-inf "
                                              r"constraint.ball at 1 coordinate \(by up to 0.05, at index 1\); the"):
        Optimizer.start(tight, [0.0, 0.25, 0.1])
    # on the boundary is inside
    assert Optimizer.start(ball, [2.0, 0.0]).state.x.tolist() == [2.0, 0.0]
    assert Optimizer.start(box, [0.0, 1.0, 0.5]).step == 0


@pytest.mark.parametrize("given, x0, further, size", [
    (FeasibleSet(box=Box(0.7, 1.0)), [0.7, 0.8], [0.6999, 0.8], 0.0),  # 0.7 rounds down, the bound up
    (FeasibleSet(box=Box(-1.0, 0.2)), [0.2, -1.0], [0.2001, -1.0], 0.0),
    (FeasibleSet(box=Box(-0.2, 1.0)), [-0.2, 0.3], [-0.2001, 0.3], 0.0),
    (FeasibleSet(ball=Ball("inf", 0.1, 0.6)), [0.7, -0.5], [0.7001, -0.5], 0.0),
    (FeasibleSet(ball=Ball("2", [0.1, 0.3], 0.7)), [0.1 + 0.7 * 0.6, 0.3 + 0.7 * 0.8], [0.5201, 0.86], 1.0),
    # 0 lies on these spheres as given; the centers' rounding puts it outside by 1e-8
    (FeasibleSet(ball=Ball("2", [0.3, 0.4], 0.5)), [0.0, 0.0], [-0.0001, 0.0], 0.9),
    (FeasibleSet(box=Box(-1.0, 1.0), ball=Ball("2", [0.6, 0.8], 1.0)), [0.0, 0.0], [0.0, -0.0001], 1.8),
    # 0 lies on this cube's face as given; the center's rounding puts the face at 1.5e-9
    (FeasibleSet(ball=Ball("inf", 0.1, 0.1)), [0.0, 0.0], [-0.0001, 0.0], 0.2),
])
def test_x0_on_the_boundary_as_given_is_admitted(given, x0, further, size):
    """A bound given as x0's own number is X's boundary: float32's rounding of either must not
    refuse it.  Such an x0 moves onto X by at most two float32 steps of its coordinates, or of
    the ball's ``size`` (|center| + radius); one further out is refused."""
    config = SessionConfig(dim=2, constraint=given)
    x = Optimizer.start(config, x0).state.x
    assert given.violation(x) is None
    assert np.all(np.abs(x - np.float32(x0)) <= 2 * np.spacing(np.maximum(np.abs(np.float32(x0)), np.float32(size))))
    with pytest.raises(InvalidArgument, match=r"x lies outside the session's constraint: (x lies|\|\|x - center)"):
        Optimizer.start(config, further, name="x")


def test_a_constraint_must_fit_the_session():
    with pytest.raises(InvalidArgument, match="constraint.box.upper has 2 values, the session has dim 3"):
        SessionConfig(dim=3, constraint=FeasibleSet(box=Box(0.0, [1.0, 1.0])))
    with pytest.raises(InvalidArgument, match="constraint must be a FeasibleSet or None, got dict"):
        SessionConfig(dim=3, constraint={"box": {"lower": 0, "upper": 1}})


@pytest.mark.parametrize("dim", [1, 3, 40])
def test_shrunk_keeps_float32_probes_inside_at_its_boundary(dim):
    """The probes as the SDK makes them, x -+ float32(mu) * u in float32, from points on the
    shrunk set's boundary (where float32's rounding would carry a probe out by a hair)."""
    rng = np.random.default_rng(dim)
    for trial in range(300):
        mu = float(10 ** rng.uniform(-6, -1))
        size = float(rng.uniform(3 * mu, 3))
        center = rng.uniform(-2, 2, dim) if trial % 2 else 0.0
        feasible_set = [FeasibleSet(box=Box(center - size, center + size)),
                        FeasibleSet(ball=Ball("inf", center, size)),
                        FeasibleSet(ball=Ball("2", center, size)),
                        FeasibleSet(box=Box(-0.5 * size + center, 2.0), ball=Ball("2", center, size))][trial % 4]
        inner = feasible_set.shrunk(mu)
        x = inner.project(np.asarray(center + rng.standard_normal(dim) * 10, np.float32))
        assert inner.violation(x) is None
        u = rng.standard_normal(dim).astype(np.float32)
        u /= np.float32(np.linalg.norm(u))
        for probe in (x + np.float32(mu) * u, x - np.float32(mu) * u):
            assert feasible_set.violation(probe) is None, (trial, mu, size)


def test_shrunk_moves_each_face_by_about_the_margin_even_beside_an_unbounded_side():
    """A side without a bound (float32's end, as scipy's None becomes) must not make the other
    faces move by a share of its size."""
    end = float(np.finfo(np.float32).max)
    inner = FeasibleSet(box=Box([-end, 0.0], [1.0, end])).shrunk(0.01)
    lower, upper = (np.asarray(v, np.float64) for v in inner.bounds)
    assert 0.01 <= lower[1] < 0.01 + 1e-6 and 0.99 - 1e-6 < upper[0] <= 0.99
    assert lower[0] == -end and upper[1] == end  # still no bound: the dashboard shows it as ∞
    scalar = FeasibleSet(box=Box(-end, 1.0)).shrunk(0.01)
    assert scalar.bounds[0] == -end and 0.99 - 1e-6 < scalar.bounds[1] <= 0.99


def test_shrunk_keeps_sphere_probes_inside():
    feasible_set = FeasibleSet(box=Box(-1.0, [1.0, 2.0, 3.0]), ball=Ball("2", 0.0, 1.5))
    mu = 0.01
    inner = feasible_set.shrunk(mu)
    assert 1.5 - mu - 1e-6 < inner.sphere[1] < 1.5 - mu and float(inner.bounds[0]) >= -1 + mu
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = inner.project(rng.standard_normal(3) * 3)
        u = rng.standard_normal(3)
        assert feasible_set.violation(x + mu * u / np.linalg.norm(u)) is None
    with pytest.raises(InvalidArgument, match="margin 2 is not below constraint.ball.radius 1.5"):
        feasible_set.shrunk(2)
    with pytest.raises(InvalidArgument, match=r"margin 0.6 leaves nothing of constraint.box \(its narrowest side is 1"):
        FeasibleSet(box=Box(0.0, 1.0)).shrunk(0.6)
    with pytest.raises(InvalidArgument, match="margin must be finite and >= 0"):
        feasible_set.shrunk(-0.1)


def test_a_shrink_takes_numpy_scalars_and_blames_the_margin_for_what_it_empties():
    """float32(mu), as the SDK probes with, is a number (it was refused as "not finite"); a margin
    that moves a box and a ball apart says so of the margin, not of a ball the user never gave."""
    box = FeasibleSet(box=Box(0.0, 1.0))
    assert box.shrunk(np.float32(1e-3)) == box.shrunk(float(np.float32(1e-3)))
    assert box.shrunk(np.int64(0)) == box.shrunk(0.0)
    for bad, said in ((True, "a number, got a boolean"), (np.float64("nan"), "finite and >= 0"), ("0.1", "a number")):
        with pytest.raises(InvalidArgument, match=f"margin must be {said}"):
            box.shrunk(bad)
    apart = FeasibleSet(box=Box(0.0, 1.0), ball=Ball("2", 1.2, 0.5))
    with pytest.raises(InvalidArgument, match=r"^margin 0.25 leaves nothing of constraint: moved in by it, "
                                              r"constraint.box and constraint.ball do not overlap"):
        apart.shrunk(0.25)


def test_a_bad_value_is_quoted_briefly_and_as_json_has_it():
    """A 400-digit radius is not echoed back digit by digit, and a boolean reads as the JSON a
    service client sent as well as Python's."""
    with pytest.raises(InvalidArgument) as huge:
        FeasibleSet.from_dict({"ball": {"norm": "2", "center": 0, "radius": 10**400}})
    assert "an integer of about 401 digits" in str(huge.value) and len(str(huge.value)) < 200
    with pytest.raises(InvalidArgument, match="an integer of about 5001 digits"):  # past str()'s 4,300 cap
        FeasibleSet.from_dict({"ball": {"norm": "2", "center": 0, "radius": 10**5000}})
    with pytest.raises(InvalidArgument, match=r"got a boolean \(true\)"):
        FeasibleSet.from_dict({"ball": {"norm": True, "center": 0, "radius": 1}})
    with pytest.raises(InvalidArgument, match=r"got 'x' \* 1000|got 'xxxx.*\.\.\.$"):
        FeasibleSet.from_dict({"ball": {"norm": "x" * 1000, "center": 0, "radius": 1}})


@pytest.mark.parametrize("value", [np.array(["-1", "-2"]), np.array([True, False]), np.array([-1 + 5j, 0]),
                                   np.complex128(3 + 4j), [np.complex64(1), 0.0], np.array([1.0, "a"], dtype=object),
                                   np.array("0", dtype=object), np.array(True, dtype=object)])
def test_arrays_of_text_booleans_or_complex_numbers_are_refused_as_bounds_and_centers(value):
    """numpy would parse the text, read the booleans as 0 and 1 and drop the imaginary part."""
    with pytest.raises(InvalidArgument, match="constraint.box.lower must be (real numbers|a number)"):
        Box(value, 5.0)
    with pytest.raises(InvalidArgument, match="constraint.ball.center must be (real numbers|a number)"):
        Ball("2", value, 1.0)
    with pytest.raises(InvalidArgument, match="constraint.box.lower must be (real numbers|a number)"):
        box_of((value, 5.0), np.zeros(2))


@pytest.mark.parametrize("given, x0", [
    (FeasibleSet(box=Box(0.0, 1.0), ball=Ball("inf", 0.0, 1e6)), [0.5, 1.1]),
    (FeasibleSet(box=Box(0.0, 1.0), ball=Ball("2", 0.0, 1e6)), [0.5, 1.1]),
    (FeasibleSet(ball=Ball("inf", [1e6, 0.0], 1.0)), [1e6, 1.1]),
    (FeasibleSet(ball=Ball("inf", [1e30, 0.0], 1.0)), [1e30, -1e22]),
    (FeasibleSet(ball=Ball("2", [1e7, 0.0], 1.0)), [1e7, 2.9]),
    (FeasibleSet(ball=Ball("2", [1e7, 0.0], 1.0)), [1e7 + 1, 2.5]),  # a float32 step out, then far along y
    (FeasibleSet(ball=Ball("2", [1e8, 0.0], 1.0), box=Box(-1e30, 1e30)), [1e8 + 8, 18.0]),
    # the box keeps x's first coordinate 4 from the center: y has 3 of the radius 5, not 5
    (FeasibleSet(box=Box(-1e30, [1e7, 1e30]), ball=Ball("2", [1e7 + 4, 0.0], 5.0)), [1e7 + 1, 5.0]),
    (FeasibleSet(box=Box(-1e30, [1e6, 1e30]), ball=Ball("2", [1e6 + 0.5, 0.0], 1.0)), [1e6 + 0.0625, 1.0]),
    (FeasibleSet(box=Box(0.0, 1.0)), [np.inf, 0.5]),
    (FeasibleSet(box=Box(0.0, 1.0)), [3.4028234663852886e38, 0.5]),
    (FeasibleSet(box=Box(0.0, 1.0), ball=Ball("2", 0.5, 1.0)), [-3.4028234663852886e38, 0.5]),
])
def test_a_large_ball_lends_its_rounding_to_no_other_coordinate_or_part(given, x0):
    """The slack for float32's rounding is each part's own, coordinate by coordinate: a ball far
    from 0, or a wide one, must not let x0 through a box's face or past another coordinate's."""
    with pytest.raises(InvalidArgument, match="x0 (lies outside the session's constraint|contains NaN or infinite)"):
        Optimizer.start(SessionConfig(dim=2, constraint=given), x0)
    with pytest.raises(InvalidArgument, match="x0 (lies outside the session's constraint|contains NaN or infinite)"):
        given.admit(np.array(x0, np.float32))  # as an SDK run admits the x0 it was given


@pytest.mark.parametrize("center, x0", [([1e6, 0.0], [1e6 + 0.6, 0.8]), ([1000.1, 0.0], [1000.7, 0.8])])
def test_a_point_on_a_sphere_about_a_large_center_is_admitted(center, x0):
    """(0.6, 0.8) from the center, on the sphere of radius 1: float32 rounds 1e6 + 0.6 by 0.03,
    which moves the distance by as much, along the way from c to x."""
    given = FeasibleSet(ball=Ball("2", center, 1.0))
    assert given.violation(Optimizer.start(SessionConfig(dim=2, constraint=given), x0).state.x) is None


def test_points_given_on_a_sphere_in_many_dimensions_are_admitted():
    rng = np.random.default_rng(4)
    center, radius = rng.normal(size=1000), 3.7
    shift = rng.normal(size=1000)
    x0 = center + radius * shift / np.linalg.norm(shift)  # on the sphere in float64
    given = FeasibleSet(ball=Ball("2", center.tolist(), radius))
    x = Optimizer.start(SessionConfig(dim=1000, constraint=given), x0).state.x
    assert given.violation(x) is None
    assert np.max(np.abs(x - np.float32(x0))) < 1e-5


def test_admit_refuses_a_nan():
    with pytest.raises(InvalidArgument, match="x0 contains NaN or infinite values"):
        FeasibleSet(ball=Ball("2", 0.0, 1.0)).admit(np.float32([np.nan, 0.5]))
