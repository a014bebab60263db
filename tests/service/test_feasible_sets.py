"""Feasible sets and every method through the HTTP API (TestClient), on the embedded store, on
Redis and on a Redis Cluster.  Every x is checked against ``zoadamm.Optimizer`` run here.
"""

from __future__ import annotations

import numpy as np
import pytest
from service_support import (
    FRAME,
    apply_values,
    apply_zo,
    bits,
    config_of,
    create,
    feasible_sets,
    feasible_x0,
    get_x,
    objective,
    reference,
    step_values,
    tell,
    zo_values,
)

from zoadamm import METHODS, FeasibleSet, directions, wire

DIM = 12


@pytest.fixture(params=["memory", "redis", "cluster"])
def store_kind(request) -> str:
    return request.param


@pytest.mark.parametrize("kind", list(feasible_sets(DIM)))
@pytest.mark.parametrize("method", METHODS)
def test_every_method_and_set_match_the_in_process_optimizer(client, method, kind):
    """Each step projected onto X as the in-process optimizer projects it, to the bit; the
    session's config reads back the set it was given (vectors inline)."""
    constraint = feasible_sets(DIM)[kind]
    f, grad = objective(DIM)
    x0 = feasible_x0(constraint, DIM)
    lr = 0.003 if method == "zo-sgd" else 0.1  # its steps are lr * g, not about lr per coordinate
    session = create(client, dim=DIM, x0=x0, method=method, lr=lr, mu=0.01, directions=2, seed=11,
                     constraint=None if constraint is None else constraint.to_dict(inline=True))
    view = client.get(f"/v1/sessions/{session['id']}").json()
    assert config_of(view).constraint == constraint  # its JSON part in the config, vectors beside it
    assert all(isinstance(v, (int, float)) for part in (view["config"]["constraint"] or {}).values()
               for k, v in part.items() if k != "norm")
    sid, opt = session["id"], reference(session, x0)
    assert opt.config.constraint == constraint and opt.config.method == method
    for t in range(6):
        values = step_values(opt, f, grad)
        answer = tell(client, sid, values, answer="checksum" if t % 2 else "x")
        apply_values(opt, values)
        if t % 2 == 0:
            assert bits(np.array(answer["x"], np.float32)) == bits(opt.state.x)
        assert constraint is None or constraint.violation(opt.state.x) is None
    step, x = get_x(client, sid)
    assert step == 6 and bits(x) == bits(opt.state.x)
    assert f(x) < f(x0)


def test_vector_bounds_travel_in_a_binary_frame(client):
    """The constraint's d-vectors beside its JSON, named "constraint.box.lower" and so on."""
    constraint = feasible_sets(DIM)["box"]
    vectors = {"constraint." + name: v for name, v in constraint.vectors().items()}
    x0 = feasible_x0(constraint, DIM)
    body = wire.encode({"dim": DIM, "seed": 5, "constraint": constraint.to_dict()}, {"x0": x0, **vectors})
    r = client.post("/v1/sessions", content=body, headers={"Content-Type": FRAME})
    assert r.status_code == 201, r.text
    assert config_of(r.json()).constraint == constraint
    # in JSON, the same vectors as top-level lists beside the constraint's other fields
    fields = {"dim": DIM, "seed": 5, "constraint": constraint.to_dict(), "x0": x0.tolist(),
              **{name: v.tolist() for name, v in vectors.items()}}
    r = client.post("/v1/sessions", json=fields)
    assert r.status_code == 201, r.text
    assert config_of(r.json()).constraint == constraint


@pytest.mark.parametrize("shrink", [False, True], ids=["X", "X shrunk by mu"])
def test_the_probes_x_plus_mu_u_are_the_clients_and_may_leave_x(client, shrink):
    """The service projects x, never the probes: near the boundary x + mu u lies outside X.  A
    session on ``X.shrunk(mu)`` keeps every probe (sphere directions) inside X."""
    mu = 0.05
    given = FeasibleSet.from_dict({"ball": {"norm": "2", "center": 0.0, "radius": 1.0}, "box": {"lower": -0.8,
                                                                                           "upper": 0.8}})
    constraint = given.shrunk(mu) if shrink else given
    f, _ = objective(DIM)  # its minimum lies outside the set: x runs to the boundary
    x0 = np.zeros(DIM, np.float32)
    session = create(client, dim=DIM, x0=x0, lr=0.05, mu=mu, directions=4, seed=1,
                     constraint=constraint.to_dict(inline=True))
    sid, opt = session["id"], reference(session, x0)
    outside = 0
    for _ in range(40):
        values = zo_values(opt, f)
        u = directions(opt.config.seed, opt.step, 4, DIM, "sphere")
        outside += sum(given.violation(opt.state.x + np.float32(mu) * ui) is not None for ui in u)
        tell(client, sid, values)
        apply_zo(opt, values)
        assert constraint.violation(opt.state.x) is None
    assert bits(get_x(client, sid)[1]) == bits(opt.state.x)
    assert (outside == 0) if shrink else (outside > 0)


def test_an_x0_on_the_bound_as_given_starts_and_an_ask_x_outside_is_named_x(client):
    """x0 = 0.7 with lower 0.7: float32 rounds the one down and the other up, and the session
    still starts, on X, with the bits the in-process optimizer starts from."""
    constraint = {"box": {"lower": 0.7, "upper": 1.0}}
    session = create(client, dim=2, x0=[0.7, 1.0], seed=3, constraint=constraint)
    _, x = get_x(client, session["id"])
    assert bits(x) == bits(reference(session, np.array([0.7, 1.0])).state.x)
    assert FeasibleSet.from_dict(constraint).violation(x) is None
    bare = create(client, dim=2, seed=3, constraint=constraint)  # no x0: the first ask's x sets it
    r = client.post(f"/v1/sessions/{bare['id']}/ask", json={"x": [0.5, 1.0]})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("x lies outside the session's constraint: x lies below")


def test_the_x0_a_session_moved_onto_x_is_its_x_when_sent_again(client):
    """A second worker joins by sending the x0 it was given: where the session moved that x0
    onto X (float32 rounding at a bound, or on the sphere), the same x0 sent again is the
    session's x, not a 409; a point further out still differs."""
    for constraint, x0 in (({"box": {"lower": 0.7, "upper": 1.0}}, [0.7, 0.8, 0.9]),
                           ({"ball": {"norm": "2", "center": 0.0, "radius": 1.0}}, [0.6, 0.8, 0.0])):
        session = create(client, dim=3, seed=3, constraint=constraint)
        path = f"/v1/sessions/{session['id']}/ask"
        for _ in range(2):  # the first ask sets x, the second checks it
            r = client.post(path, json={"x": x0})
            assert r.status_code == 200, (constraint, r.text)
        _, x = get_x(client, session["id"])
        assert bits(x) == bits(reference(session, np.array(x0)).state.x)
        inside = [float(v) for v in np.float32(x0) * np.float32(0.99)]  # another point (inside X): differs
        assert client.post(path, json={"x": inside}).status_code == 409
