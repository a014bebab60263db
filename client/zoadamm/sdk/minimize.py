"""``minimize(f, x0)``: a whole ZO-AdaMM run of a Python callable through the service."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .client import DEFAULT_URL, Client
from .progress import Progress
from .remote import RemoteOptimizer

log = logging.getLogger("zoadamm")


@dataclass(frozen=True)
class MinimizeResult:
    x: np.ndarray
    fun: float  # f at x, evaluated at the end
    steps: int
    evaluations: int
    session_id: str
    history: list[float]  # f(x) at each step


def minimize(
    f: Callable[[np.ndarray], float],
    x0,
    *,
    steps: int = 1000,
    client: Client | None = None,
    base_url: str | None = None,
    progress: bool = True,
    mirror: bool = False,
    pipeline: bool = False,
    report_every: int | None = None,
    callback: Callable[[int, np.ndarray, float], None] | None = None,
    **config,
) -> MinimizeResult:
    """Minimise ``f`` from ``x0`` with ZO-AdaMM run by the service; only f values are sent.

    The service is ``client``, else a client of ``base_url`` (closed at the end).  With
    neither, it is http://127.0.0.1:8000, and a WARNING on the ``zoadamm`` logger names it: a
    run should not land silently on whatever service happens to answer there.

    ``config`` holds the session settings (lr, mu, directions, distribution, difference, seed,
    schedule, ...).  ``mirror``/``pipeline``: see ``RemoteOptimizer``.  With ``report_every=N``,
    f(x) is reported as the metric every N steps so the plateau schedule acts.  ``f`` must
    return a finite float.

    Raises:
        zoadamm.InvalidArgument: a bad x0 or setting (found before any request when it can be).
        zoadamm.sdk.APIError: the service failed or refused (see its subclasses).
        ValueError: ``f`` returned a non-finite value.
    """
    own_client = client is None
    if client is None and base_url is None:
        log.warning("minimize: no client or base_url given; using the service at %s", DEFAULT_URL)
    client = client or Client(base_url or DEFAULT_URL)
    try:
        with RemoteOptimizer.create(client, x0, mirror=mirror, pipeline=pipeline, **config) as run:
            return _run(run, f, steps, progress, report_every, callback)
    finally:
        if own_client:
            client.close()


def _run(run: RemoteOptimizer, f, steps: int, progress: bool, report_every, callback) -> MinimizeResult:
    central = run.config.difference == "central"
    bar = Progress(steps, "zo-adamm", enabled=progress)
    history, evaluations = [], 0
    while run.step < steps:
        x = run.x
        f_x = _value(f, x)
        plus, minus = [], []
        for u in run.directions():
            plus.append(_value(f, x + np.float32(run.mu) * u))
            if central:
                minus.append(_value(f, x - np.float32(run.mu) * u))
        evaluations += run.config.evaluations_per_step
        step = run.step
        run.tell(f_x=f_x, f_plus=plus, f_minus=minus if central else None)
        if run.step == step:  # a failed mirror check dropped these values: measure again
            continue
        history.append(f_x)
        if report_every and run.step % report_every == 0:
            run.report(f_x)
        if callback is not None:
            callback(run.step, run.x, f_x)
        bar.update(1, f=f_x, lr=run.lr)
    run.flush()  # the last tell is checked before x is read
    bar.close()
    x = np.array(run.x)
    return MinimizeResult(x, _value(f, x), run.step, evaluations + 1, run.id, history)


def _value(f, x) -> float:
    value = float(f(x))
    if not np.isfinite(value):
        raise ValueError(f"the objective returned {value}; ZO-AdaMM needs finite values")
    return value
