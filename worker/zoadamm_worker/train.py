"""The MNIST worker loop: the paper's CNN trained through a zoadamm session.

The ZO worker only ever sends function values (f(x) and f(x + mu u_i) on one minibatch, Eq. 3);
the FO worker sends exact autograd gradients through the same API (``method: adamm``).  After
each epoch the test loss goes to ``/metrics`` (the plateau schedule halves lr and mu), and one
JSON line per epoch is appended to the record file.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from zoadamm import Client, InvalidArgument, RemoteOptimizer
from zoadamm.methods import method as method_spec
from zoadamm.sdk import APIConnectionError, Interrupted, fast_switching
from zoadamm.sdk.minimize import start_run

from .diverged import Diverged
from .model import initial_parameters, parameter_count
from .objective import MnistObjective
from .records import append_record, read_records
from .transport import lean_client

PAPER_SCALE = 1 / 9  # d = 1,400


@dataclass(frozen=True)
class RunSpec:
    method: str = "zo-adamm"  # or "adamm"
    scale: float = PAPER_SCALE
    epochs: int = 1
    directions: int = 1
    difference: str = "forward"
    distribution: str = "sphere"
    normalizer: str = "v_hat"
    seed: int = 0  # initial weights (FO and ZO runs share them)
    session_seed: int | None = None  # the directions' seed; None: the same as seed
    lr: float = 1e-3
    mu: float = 1e-3
    batch_size: int = 128
    shuffle: bool = False  # the paper kept MNIST's order; True draws a permutation per epoch
    normalize: bool = False  # pixels (x - 0.1307) / 0.3081 instead of x in [0, 1]
    max_steps: int | None = None  # burst mode: stop after this many steps
    train_limit: int | None = None  # use only the first N training images (tests, smoke runs)
    save_weights: bool = False  # the flat parameters in every epoch record (for the minima analysis)
    mirror: bool = True

    @property
    def dim(self) -> int:
        return parameter_count(self.scale)

    def objective(self, data=None) -> MnistObjective:
        """The run's minibatch loss on ``data`` (default: MNIST, loaded)."""
        return MnistObjective(self.scale, data, batch_size=self.batch_size, train_limit=self.train_limit,
                              shuffle=self.shuffle, seed=self.seed, normalize=self.normalize)

    def last_step(self, batches: int) -> int:
        """The session's step the run stops at: its epochs' end, or ``max_steps`` before it."""
        return self.epochs * batches if self.max_steps is None else min(self.epochs * batches, self.max_steps)

    @property
    def label(self) -> str:
        name = "ZO" if self.method == "zo-adamm" else self.method
        base = "FO" if self.method == "adamm" else f"{name} q={self.directions}"
        return f"{base} d={parameter_count(self.scale):,}"


def train(spec: RunSpec, service_url: str, record: str | Path | None = None, data=None,
          client: Client | None = None, progress: bool = True, session_name: str | None = None,
          save: str | Path | None = None, resume: bool = False, service_wait: float = 0.0) -> list[dict]:
    """Run ``spec`` through the service at ``service_url``; returns the per-epoch records.
    ``save``: write the trained model there (``model_file``), for the attacks' victim.
    ``service_wait``: seconds a call keeps asking a service that is away (``Client``'s
    ``retry_window``) when no ``client`` is given.

    ``resume=True`` continues the newest session named ``session_name`` (default: the spec's
    label) with the spec's settings, from its step, or starts one (``zoadamm.sdk.minimize.
    start_run``).  Epochs and ``max_steps`` count from step 0, so the command that started a run
    also finishes it; the epoch it continues in averages the train loss over the steps taken here.

    Raises:
        zoadamm.sdk.Interrupted: Ctrl-C; the steps told so far are kept.
        Diverged: the loss became NaN or infinite; the records of the epochs before it are kept.
    """
    objective = spec.objective(data)
    own_client = client is None
    client = client or lean_client(service_url, retry_window=service_wait)
    zo = method_spec(spec.method).takes == "values"  # every zo-* method sends function values
    session_seed = spec.seed if spec.session_seed is None else spec.session_seed
    config: dict[str, Any] = dict(method=spec.method, lr=spec.lr, mu=spec.mu, seed=session_seed,
                                  normalizer=spec.normalizer)
    if zo:
        config.update(directions=spec.directions, difference=spec.difference, distribution=spec.distribution)
    run = start_run(client, initial_parameters(spec.scale, spec.seed), name=session_name or spec.label,
                    resume=resume, mirror=spec.mirror, pipeline=spec.mirror, **config)
    nb, last = objective.num_batches, spec.last_step(objective.num_batches)
    records = []
    settings = contextlib.ExitStack()
    if spec.mirror:  # the pipelined tells go from a thread: let it in sooner while the run lasts
        settings.enter_context(fast_switching())
    try:
        if resume:
            _check_recorded_data(run, spec, record)
            records += _report_missed_epoch(run, objective, spec, record)
        for epoch in range(run.step // nb + 1, spec.epochs + 1):
            if run.step >= last:
                break
            records.append(_epoch(run, objective, spec, epoch, last, record, progress))
        if save is not None:
            from .model_file import save_model

            save_model(save, run.x, spec.scale, spec.normalize)
    except KeyboardInterrupt as stop:
        with contextlib.suppress(Exception):
            run.close()  # the tell in flight lands: run.step is then the service's
        raise Interrupted.of(f"interrupted at step {run.step} of session {run.id}", run.id, run.step) from stop
    except APIConnectionError as lost:  # where the run stands, for the line that continues it
        raise type(lost)(str(lost), lost.url, run.id, run.step) from lost
    finally:
        run.close()
        settings.close()
        if own_client:
            client.close()
    return records


def _epoch(run: RemoteOptimizer, objective: MnistObjective, spec: RunSpec, epoch: int, last: int,
           record: str | Path | None, progress: bool) -> dict:
    """The steps of ``epoch`` from the session's step (up to step ``last``), then the epoch's
    test evaluation, its report to the session and its record."""
    nb = objective.num_batches
    started, losses = time.perf_counter(), []
    indices = range(run.step - (epoch - 1) * nb, min(nb, last - (epoch - 1) * nb))
    # A bar redraws with carriage returns: on a terminal only.  Elsewhere (a log file, a
    # pipe, compose's output) the line per epoch below is the progress.
    bar = tqdm(indices, desc=f"{spec.label} epoch {epoch}/{spec.epochs}",
               disable=not (progress and _interactive()), leave=False, mininterval=0.5, unit="step")
    # and a line at least every LOG_EVERY_S, so that a long epoch (a minute at the paper's larger
    # scales) does not leave a log silent until its end
    logged = time.monotonic() if progress and not _interactive() else math.inf
    for index in bar:
        batch = objective.batch(epoch, index)
        if method_spec(run.config.method).takes == "values":
            f_x, f_plus, f_minus = objective.zo_losses(run.x, batch, run.directions(), run.mu, spec.difference)
            if not all(np.isfinite(values).all() for values in (f_x, f_plus, f_minus) if values is not None):
                raise Diverged(run.step, run.lr)
            run.tell(f_x=f_x, f_plus=f_plus, f_minus=f_minus)
            loss = f_x  # the minibatch loss at x: the step's training loss
        else:
            loss, gradient = objective.gradient(run.x, batch)
            if not (np.isfinite(loss) and np.isfinite(gradient).all()):
                raise Diverged(run.step, run.lr)
            run.tell_gradient(gradient)
        losses.append(loss)
        if len(losses) % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{run.lr:.2g}")
        if time.monotonic() - logged >= LOG_EVERY_S:
            logged = time.monotonic()
            print(f"{spec.label} epoch {epoch}/{spec.epochs}: step {index + 1:,} of {nb:,}, train "
                  f"{np.mean(losses[-20:]):.4f}, lr {run.lr:.2g}", file=sys.stderr, flush=True)
    run.flush()
    row = _close_epoch(run, objective, spec, epoch, float(np.mean(losses)), started, record)
    if progress:
        part = "" if row["complete"] else f", stopped at step {run.step} inside it"
        tqdm.write(f"{spec.label} epoch {epoch}/{spec.epochs}: train {row['train_loss']:.4f} test "
                   f"{row['test_loss']:.4f} acc {row['test_accuracy']:.4f} ({row['seconds']:.1f} s{part})",
                   file=sys.stderr)
    return row


def _close_epoch(run: RemoteOptimizer, objective: MnistObjective, spec: RunSpec, epoch: int, train_loss: float,
                 started: float, record: str | Path | None) -> dict:
    """The test evaluation at x, reported to the session (the plateau schedule acts on it), and
    the epoch's record row, appended to ``record``.  An epoch that ``max_steps`` ends inside is
    neither reported nor recorded (its row says ``complete: False``): the run that finishes it
    does both, so a run in pieces reports and records each epoch once, as a whole run does."""
    test_loss, test_accuracy = objective.evaluate(run.x, "test")
    complete = run.step >= epoch * objective.num_batches
    metrics = {"test_accuracy": test_accuracy} | ({} if math.isnan(train_loss) else {"train_loss": train_loss})
    entry = run.report(test_loss, **metrics) if complete else {"lr": None, "mu": None}
    row = {
        "epoch": epoch, "train_loss": train_loss, "test_loss": test_loss,
        "test_accuracy": test_accuracy, "seconds": time.perf_counter() - started,
        "evaluations": run.step * run.config.evaluations_per_step, "steps": run.step, "d": objective.dim,
        "session": run.id, **asdict(spec),  # lr and mu: the run's, at its start
        "scheduled_lr": entry["lr"], "scheduled_mu": entry["mu"],  # the session's, after this report
        "complete": complete,
    }
    if spec.save_weights:
        row["weights"] = np.asarray(run.x, dtype=np.float64).tolist()
    if record is not None and complete:
        append_record(record, row)
    return row


def _report_missed_epoch(run: RemoteOptimizer, objective: MnistObjective, spec: RunSpec,
                         record: str | Path | None) -> list[dict]:
    """A run interrupted after an epoch's last step but before its report: the report, now
    (with no train loss: its steps were taken before), so that the schedule sees every epoch."""
    epochs_done, into_epoch = divmod(run.step, objective.num_batches)
    if into_epoch or epochs_done == 0 or epochs_done > spec.epochs:  # beyond this command's epochs: not its report
        return []
    if len(run.client.sessions.history(run.id)) >= epochs_done:
        return []
    return [_close_epoch(run, objective, spec, epochs_done, math.nan, time.perf_counter(), record)]


LOG_EVERY_S = 10.0  # in a log (stderr no terminal), the longest an epoch stays silent

DATA_OPTIONS = ("batch_size", "train_limit", "normalize", "shuffle", "seed")  # what the session's settings leave out


def _check_recorded_data(run: RemoteOptimizer, spec: RunSpec, record: str | Path | None) -> None:
    """A session continued under other data options would mix two runs' steps: the settings a
    session is found by (lr, q, ...) leave the data out, but the run's records keep it."""
    if record is None:
        return
    earlier = [row for row in read_records(record) if row.get("session") == run.id]
    if not earlier:
        return
    differ = [f"{name} {earlier[-1][name]!r} (here {getattr(spec, name)!r})" for name in DATA_OPTIONS
              if name in earlier[-1] and earlier[-1][name] != getattr(spec, name)]
    if differ:
        raise InvalidArgument(f"session {run.id} was trained on other data, as {record} records it: "
                              f"{', '.join(differ)}; continuing it would mix two runs: give the same options, "
                              "or another --name for a new run")


def _interactive() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
