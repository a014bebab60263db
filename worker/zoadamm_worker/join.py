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
from zoadamm.sdk import SharedRun, UnprocessableEntityError

from .model import initial_parameters
from .records import append_record
from .train import RunSpec
from .transport import lean_client

CHECK_EVERY = 16  # steps between two looks at a shared step's f(x) in the trace (one GET each)
SAME_F = 1e-4  # relative: the trace keeps f in float32, and torch's sums may differ in their last bits
SAME_DATA = ("workers that share a session must read the same data: give all of them the same --batch-size, "
             "--train-limit, --normalize, --shuffle and --seed")


class SameData:
    """Whether the workers of a session read the same data.  Each evaluates step t at the same x
    on the minibatch a single worker takes at t, so its f(x) is the same number wherever it is
    computed, and the trace's f of a step (the mean f(x) over every direction told) is this
    worker's own f(x) for a step it told part of.  A worker of another --batch-size, --train-limit
    or --normalize mixed its values into the steps unnoticed.  The steps told in part are looked
    at once closed: the first as soon as it is, then all of them every ``CHECK_EVERY`` steps (one
    GET of the trace) and at the end (forward differences: central ones report f(x +- mu u) alone)."""

    def __init__(self, client: Client, session_id: str) -> None:
        self.client, self.session_id = client, session_id
        self.mine: dict[int, float] = {}  # step told in part -> this worker's f(x), until looked at
        self.next_look = 0  # the open step from which the closed ones are looked at

    def told(self, step: int, f_x: float, part: bool) -> None:
        if part:
            self.mine[step] = f_x

    def check(self, open_step: int, *, now: bool = False) -> None:
        """Look at the steps told in part that have closed (below ``open_step``), when due or ``now``.

        Raises:
            InvalidArgument: a step's f(x) is not this worker's: another read other data."""
        closed = sorted(step for step in self.mine if step < open_step)
        if not closed or (open_step < self.next_look and not now):
            return
        self.next_look = open_step + CHECK_EVERY
        trace = self.client.sessions.trace(self.session_id, since=closed[0])
        kept = dict(zip(trace.step.tolist(), trace.f.tolist(), strict=True))  # a long trace keeps every n-th step
        for step in closed:
            mine, theirs = self.mine.pop(step), kept.get(step)
            if theirs is not None and not math.isclose(theirs, mine, rel_tol=SAME_F):
                raise InvalidArgument(f"step {step} of session {self.session_id} mixed other data into its values: "
                                      f"this worker's f(x) was {mine:.6g} on its minibatch, and the mean over every "
                                      f"worker's {theirs:.6g}; {SAME_DATA}")


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
        same = SameData(client, session_id) if run.config.difference == "forward" else None
        nb, last = objective.num_batches, spec.last_step(objective.num_batches)
        records = []
        # a worker that joins at the end of an epoch reports it too (once for all: same key, same
        # value), so that nobody leases the next epoch's first step before the report is in
        for epoch in range(max(1, -(-run.step // nb)), spec.epochs + 1):
            started, losses, told = time.perf_counter(), [], 0
            until = min(epoch * nb, last)
            while (work := run.next(until)) is not None:
                if same is not None:
                    same.check(run.step)
                batch = objective.batch(work.step // nb + 1, work.step % nb)
                f_x, f_plus, f_minus = objective.zo_losses(run.x, batch, run.directions(work.indices), work.mu,
                                                           run.config.difference)
                if same is not None:
                    same.told(work.step, float(np.mean(f_x)), len(work.indices) < run.config.directions)
                run.tell(work, f_x, f_plus, f_minus)
                losses.append(f_x)
                told += len(work.indices)
            if same is not None:
                same.check(run.step, now=True)
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
            entry = _report(run, epoch, test_loss, test_accuracy) if complete else {"lr": None, "mu": None}
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


def _report(run: SharedRun, epoch: int, test_loss: float, test_accuracy: float) -> dict:
    """The epoch's test loss, reported once for every worker (one Idempotency-Key): a worker that
    evaluated the same x on other data reports other values, which the key refuses."""
    try:
        return run.report(test_loss, f"epoch-{epoch}", test_accuracy=test_accuracy)
    except UnprocessableEntityError as refused:
        if "Idempotency-Key" not in str(refused):
            raise
        raise InvalidArgument(f"another worker of session {run.id} reported epoch {epoch} with another test loss "
                              f"than this one's {test_loss:.6g} at the same x; {SAME_DATA}") from None


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
