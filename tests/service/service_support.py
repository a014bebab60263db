"""Helpers for the service tests: talk to an app, and compute the same steps in process.

Every expected number comes from ``zoadamm.Optimizer`` run here, never from a constant: the
service must agree with it bit for bit.
"""

from __future__ import annotations

import numpy as np
from objectives import bits, feasible_sets, feasible_x0, quadratic_with_gradient, x0_for  # noqa: F401

from zoadamm import Optimizer, SessionConfig, directions, wire
from zoadamm.optimizer import CONFIG_VECTORS

FRAME = wire.MEDIA_TYPE


def objective(dim: int):
    """(f, grad) of the shared test quadratic."""
    return quadratic_with_gradient(dim)


def create(client, expect: int = 201, **body) -> dict:
    """POST a session (JSON); ``x0`` may be an array."""
    if isinstance(body.get("x0"), np.ndarray):
        body["x0"] = body["x0"].tolist()
    r = client.post("/v1/sessions", json=body)
    assert r.status_code == expect, r.text
    return r.json()


def config_of(session: dict) -> SessionConfig:
    """A session answer's config, with the constraint's vectors that travel beside it."""
    vectors = {name: np.asarray(session[name], np.float32) for name in CONFIG_VECTORS if name in session}
    return SessionConfig.from_dict(session["config"], vectors)


def reference(session: dict, x0: np.ndarray) -> Optimizer:
    """The in-process optimizer the session must match (its config carries the seed)."""
    return Optimizer.start(config_of(session), x0)


def zo_values(opt: Optimizer, f) -> dict:
    """The function values a client reports for ``opt``'s open step, as tell fields."""
    cfg = opt.config
    x = opt.state.x
    u = directions(cfg.seed, opt.step, cfg.directions, cfg.dim, cfg.distribution)
    mu = np.float32(opt.mu)
    values = {"step": opt.step, "f_plus": [f(x + mu * ui) for ui in u]}
    if cfg.difference == "central":
        values["f_minus"] = [f(x - mu * ui) for ui in u]
    else:
        values["f_x"] = f(x)
    return values


def apply_zo(opt: Optimizer, values: dict) -> None:
    """Apply a tell's values to the in-process optimizer (what the service should do)."""
    opt.apply(opt.zo_record(values.get("f_x"), values["f_plus"], values.get("f_minus")))


def step_values(opt: Optimizer, f, grad) -> dict:
    """The tell fields of ``opt``'s open step: function values, or a gradient (adamm)."""
    if opt.config.takes_values:
        return zo_values(opt, f)
    return {"step": opt.step, "gradient": grad(opt.state.x).tolist()}


def apply_values(opt: Optimizer, values: dict) -> None:
    """Apply ``step_values``'s fields to the in-process optimizer."""
    if "gradient" in values:
        opt.apply(opt.fo_record(np.asarray(values["gradient"], np.float32)))
    else:
        apply_zo(opt, values)


def tell(client, session_id: str, values: dict, expect: int = 200, **params):
    r = client.post(f"/v1/sessions/{session_id}/tell", json=values, params=params)
    assert r.status_code == expect, r.text
    return r.json()


def get_x(client, session_id: str) -> tuple[int, np.ndarray]:
    """The session's step and x, as raw float32 (a binary frame: exact bits)."""
    r = client.get(f"/v1/sessions/{session_id}/x", headers={"Accept": FRAME})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(FRAME)
    fields, vectors = wire.decode(r.content)
    return fields["step"], vectors["x"].copy()


def snapshot(client, session_id: str):
    """Everything a bad request must leave alone: the session view and its parameters."""
    view = client.get(f"/v1/sessions/{session_id}")
    assert view.status_code == 200, view.text
    r = client.get(f"/v1/sessions/{session_id}/x", headers={"Accept": FRAME})
    x = r.content if r.status_code == 200 else r.status_code
    metrics = client.get(f"/v1/sessions/{session_id}/metrics").json()["items"]
    return view.json(), x, metrics


LEASE_Q = 4  # directions per step of the shared-step tests' sessions


def open_shared_session(client, **config) -> str:
    """A small ZO session for the shared-step tests (ask with lease, tell with lease)."""
    body = {"dim": 3, "directions": LEASE_Q, "seed": 7, "x0": [0.5, -1.0, 2.0], **config}
    return client.post("/v1/sessions", json=body).json()["id"]


def ask_ok(client, sid: str, **fields) -> dict:
    """An ask that must answer 200; its JSON."""
    answer = client.post(f"/v1/sessions/{sid}/ask", json=fields)
    assert answer.status_code == 200, answer.text
    return answer.json()
