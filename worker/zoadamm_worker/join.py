"""Workers that share one session (``--join SESSION_ID``): each evaluates the directions the
service leases to it, so N workers together evaluate each step's q directions.

Every worker of the MNIST objective evaluates step t on the same minibatch, the one a single
worker's loop uses at t (epoch t // batches + 1, batch t % batches: a function of the seed
and the step, Eq. 3), at the same x, which it follows from the closed steps' coefficients.  At
the end of an epoch every worker evaluates the test set at that same x and reports it with one
Idempotency-Key, so the schedule counts it once, before any worker leases the next epoch's
first step.  The steps are therefore the ones a single worker takes, bit for bit.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict

import numpy as np

from zoadamm import Client, InvalidArgument
from zoadamm.sdk import SharedRun

from .model import initial_parameters
from .records import append_record
from .train import RunSpec
from .transport import lean_client


def default_lease(directions: int) -> int:
    """Half a step's directions: two workers split a step in one lease each."""
    return max(1, math.ceil(directions / 2))


def join_mnist(spec: RunSpec, session_id: str, service_url: str, record: str | None = None, data=None,
               client: Client | None = None, lease: int | None = None, progress: bool = True,
               service_wait: float = 0.0) -> list[dict]:
    """Cooperate on session ``session_id`` (ZO) for ``spec.epochs`` epochs (or ``spec.max_steps``
    steps) counted from step 0; returns this worker's per-epoch records.  The session's own
    configuration (q, mu, lr, seed of the directions) rules; ``spec`` gives the model, the data
    and the initial weights; ``service_wait`` as in ``train``."""
    objective = spec.objective(data)
    own_client = client is None
    client = client or lean_client(service_url, retry_window=service_wait)
    try:
        config = client.sessions.get(session_id).config
        x0 = initial_parameters(spec.scale, spec.seed)
        if x0.size != config["dim"]:  # SharedRun would name x0, which the command line calls otherwise
            raise InvalidArgument(f"the model of --scale {spec.scale:g} has {x0.size} weights; session {session_id} "
                                  f"has dim {config['dim']}: give the --scale it was created for")
        run = SharedRun(client, session_id, x0, lease=lease or default_lease(int(config["directions"])))
        nb, last = objective.num_batches, spec.last_step(objective.num_batches)
        records = []
        # a worker that joins at the end of an epoch reports it too (once for all: same key, same
        # value), so that nobody leases the next epoch's first step before the report is in
        for epoch in range(max(1, -(-run.step // nb)), spec.epochs + 1):
            started, losses, told = time.perf_counter(), [], 0
            until = min(epoch * nb, last)
            while (work := run.next(until)) is not None:
                batch = objective.batch(work.step // nb + 1, work.step % nb)
                f_x, f_plus, f_minus = objective.zo_losses(run.x, batch, run.directions(work.indices), work.mu,
                                                           run.config.difference)
                run.tell(work, f_x, f_plus, f_minus)
                losses.append(f_x)
                told += len(work.indices)
            if run.step > until:  # fell behind (stopped, or slow): the others went on, after one of them
                # reported this epoch at its end; run.x is past that end, and its report would differ
                if progress:
                    print(f"joined {session_id[:8]} epoch {epoch}: this worker fell behind to step {run.step}; "
                          "another reported the epoch (the session's metrics have it), and this one goes on",
                          file=sys.stderr)
                if run.step >= last:
                    break
                continue
            test_loss, test_accuracy = objective.evaluate(run.x, "test")
            # an epoch that --steps ends inside is reported by the worker that ends it: one key, one value
            complete = run.step >= epoch * nb
            entry = run.report(test_loss, f"epoch-{epoch}", test_accuracy=test_accuracy) if complete else {
                "lr": None, "mu": None}
            row = {
                "epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None, "test_loss": test_loss,
                "test_accuracy": test_accuracy, "seconds": time.perf_counter() - started, "steps": run.step,
                "directions_told": told, "d": objective.dim, "session": run.id, "mirrored": run.mirrored,
                **asdict(spec), "scheduled_lr": entry["lr"], "scheduled_mu": entry["mu"], "complete": complete,
            }
            records.append(row)
            if record is not None and complete:
                append_record(record, row)
            if progress:
                print(f"joined {session_id[:8]} epoch {epoch}: step {run.step}, test {test_loss:.4f} "
                      f"acc {test_accuracy:.4f}, {told} directions here ({row['seconds']:.1f} s)", file=sys.stderr)
            if run.step >= last:
                break
        return records
    finally:
        if own_client:
            client.close()


def join_rest(objective, session_id: str, service_url: str, x0: np.ndarray, steps: int,
              lease: int | None = None, service_wait: float = 0.0) -> dict:
    """Cooperate on session ``session_id`` until it reaches step ``steps``, evaluating the leased
    directions with ``objective`` (x -> f(x)); returns a summary.  ``service_wait``: as in ``train``."""
    with lean_client(service_url, retry_window=service_wait) as client:
        config = client.sessions.get(session_id).config
        if x0.size != config["dim"]:  # SharedRun would name x0, which the command line calls otherwise
            raise InvalidArgument(f"the start (--dim or --x0) has {x0.size} values; session {session_id} has dim "
                                  f"{config['dim']}")
        q = int(config["directions"])
        run = SharedRun(client, session_id, x0, lease=lease or default_lease(q))
        told = 0
        while (work := run.next(steps)) is not None:
            u = run.directions(work.indices)
            mu = np.float32(work.mu)
            f_x = objective(run.x)
            f_plus = [objective(run.x + mu * u_i) for u_i in u]
            f_minus = [objective(run.x - mu * u_i) for u_i in u] if run.config.difference == "central" else None
            run.tell(work, f_x, f_plus, f_minus)
            told += len(work.indices)
        return {"session": run.id, "steps": run.step, "directions_told": told, "f": objective(run.x),
                "x": np.asarray(run.x, dtype=np.float64).tolist()}
