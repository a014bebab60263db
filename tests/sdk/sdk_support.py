"""Helpers for the SDK tests: objectives, a loop that drives a ``RemoteOptimizer``, and the same
run computed in this process with ``zoadamm.Optimizer``.

Expected numbers come from the in-process run, never from constants: the SDK and the service
must agree with it bit for bit.
"""

from __future__ import annotations

import httpx
import numpy as np
from objectives import bits, quadratic, x0_for  # noqa: F401  (re-exported for the SDK tests)

from zoadamm import Optimizer, SessionConfig, directions


def rosenbrock(x: np.ndarray) -> float:
    """The chained Rosenbrock function; its minimum is 0 at x = (1, ..., 1)."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def zo_values(f, x: np.ndarray, mu: float, u: np.ndarray, central: bool = False) -> dict:
    """The values a client reports for one step at ``x``, as ``tell`` keyword arguments."""
    mu = np.float32(mu)
    values = {"f_x": f(x), "f_plus": [f(x + mu * ui) for ui in u], "f_minus": None}
    if central:
        values["f_minus"] = [f(x - mu * ui) for ui in u]
    return values


def drive(run, f, steps: int, *, report_every: int | None = None, before=None) -> list[bytes]:
    """Run ``run`` (a RemoteOptimizer) until its step reaches ``steps``, the way ``minimize``
    does; ``before(run)`` is called before each iteration.  Returns x at each step, as bytes."""
    central = run.config.difference == "central"
    trajectory = []
    while run.step < steps:
        if before is not None:
            before(run)
        x = run.x
        trajectory.append(bits(x))
        values = zo_values(f, x, run.mu, run.directions(), central)
        run.tell(**values)
        if report_every and run.step % report_every == 0:
            run.report(values["f_x"])
    return trajectory


def reference_run(config: SessionConfig, x0, f, steps: int, *, report_every: int | None = None,
                  before=None) -> tuple[Optimizer, list[bytes], list[float]]:
    """The run ``drive`` makes, computed here: (final optimizer, x at each step, lr at each step).
    ``before(opt)`` may change the optimizer before a step and return the x to evaluate at
    (None: the optimizer's own x)."""
    opt = Optimizer.start(config, x0)
    trajectory, rates = [], []
    central = config.difference == "central"
    while opt.step < steps:
        x = opt.state.x.copy()
        moved = before(opt) if before is not None else None
        if moved is not None:
            x = moved
        trajectory.append(bits(opt.state.x))
        rates.append(opt.lr)
        u = directions(config.seed, opt.step, config.directions, config.dim, config.distribution)
        values = zo_values(f, x, opt.mu, u, central)
        opt.apply(opt.zo_record(values["f_x"], values["f_plus"], values["f_minus"]))
        if report_every and opt.step % report_every == 0:
            opt.report(values["f_x"])
    return opt, trajectory, rates


def through(test_client):
    """An ``httpx.MockTransport`` handler that passes each request to the app behind a
    Starlette TestClient and answers what the app answered."""

    def handle(request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
        answer = test_client.request(
            request.method, request.url.path, params=request.url.params, content=request.content, headers=headers
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return handle
