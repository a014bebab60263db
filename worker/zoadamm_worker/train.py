"""The MNIST worker loop: the paper's CNN trained through a zoadamm session.

The ZO worker only ever sends function values (f(x) and f(x + mu u_i) on one minibatch, Eq. 3);
the FO worker sends exact autograd gradients through the same API (``method: adamm``).  After
each epoch the test loss goes to ``/metrics`` (the plateau schedule halves lr and mu), and one
JSON line per epoch is appended to the record file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from zoadamm import Client, RemoteOptimizer
from zoadamm.methods import method as method_spec
from zoadamm.sdk.lean import lean_client

from .mnist import load_mnist
from .model import initial_parameters, parameter_count
from .objective import MnistObjective

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

    @property
    def label(self) -> str:
        base = "FO" if self.method == "adamm" else f"ZO q={self.directions}"
        return f"{base} d={parameter_count(self.scale):,}"


def train(spec: RunSpec, service_url: str, record: str | Path | None = None, data=None,
          client: Client | None = None, progress: bool = True, session_name: str | None = None) -> list[dict]:
    """Run ``spec`` through the service at ``service_url``; returns the per-epoch records."""
    data = data if data is not None else load_mnist()
    objective = MnistObjective(spec.scale, data, batch_size=spec.batch_size, train_limit=spec.train_limit,
                               shuffle=spec.shuffle, seed=spec.seed, normalize=spec.normalize)
    x0 = initial_parameters(spec.scale, spec.seed)
    own_client = client is None
    client = client or lean_client(service_url)
    zo = method_spec(spec.method).takes == "values"  # every zo-* method sends function values
    session_seed = spec.seed if spec.session_seed is None else spec.session_seed
    config = dict(method=spec.method, lr=spec.lr, mu=spec.mu, seed=session_seed, normalizer=spec.normalizer)
    if zo:
        config.update(directions=spec.directions, difference=spec.difference, distribution=spec.distribution)
    run = RemoteOptimizer.create(
        client, x0, mirror=spec.mirror, pipeline=spec.mirror, name=session_name or spec.label, **config
    )
    records, evaluations, steps = [], 0, 0
    try:
        for epoch in range(1, spec.epochs + 1):
            started = time.perf_counter()
            losses = []
            batches = objective.batches(epoch)
            # A bar redraws with carriage returns: on a terminal only.  Elsewhere (a log file, a
            # pipe, compose's output) the line per epoch below is the progress.
            bar = tqdm(batches, desc=f"{spec.label} epoch {epoch}/{spec.epochs}",
                       disable=not (progress and _interactive()), leave=False, mininterval=0.5, unit="step")
            for batch in bar:
                if zo:
                    f_x, f_plus, f_minus = objective.zo_losses(run.x, batch, run.directions(), run.mu, spec.difference)
                    run.tell(f_x=f_x, f_plus=f_plus, f_minus=f_minus)
                    loss = f_x  # the minibatch loss at x: the step's training loss
                else:
                    loss, gradient = objective.gradient(run.x, batch)
                    run.tell_gradient(gradient)
                evaluations += run.config.evaluations_per_step
                losses.append(loss)
                steps += 1
                if len(losses) % 20 == 0:
                    bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{run.lr:.2g}")
                if spec.max_steps is not None and steps >= spec.max_steps:
                    break
            run.flush()
            test_loss, test_accuracy = objective.evaluate(run.x, "test")
            train_loss = float(np.mean(losses))
            entry = run.report(test_loss, test_accuracy=test_accuracy, train_loss=train_loss)
            row = {
                "epoch": epoch, "train_loss": train_loss, "test_loss": test_loss,
                "test_accuracy": test_accuracy, "seconds": time.perf_counter() - started,
                "evaluations": evaluations, "steps": steps, "d": objective.dim, "lr": entry["lr"],
                "mu": entry["mu"], "session": run.id, **asdict(spec),
            }
            if spec.save_weights:
                row["weights"] = np.asarray(run.x, dtype=np.float64).tolist()
            records.append(row)
            if record is not None:
                append_record(record, row)
            if progress:
                tqdm.write(f"{spec.label} epoch {epoch}/{spec.epochs}: train {train_loss:.4f} test {test_loss:.4f} "
                           f"acc {test_accuracy:.4f} ({row['seconds']:.1f} s)", file=sys.stderr)
            if spec.max_steps is not None and steps >= spec.max_steps:
                break
    finally:
        run.close()
        if own_client:
            client.close()
    return records


def _interactive() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def append_record(path: str | Path, row: dict) -> None:
    """One JSON line per epoch, flushed to disk before the next epoch starts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_records(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
