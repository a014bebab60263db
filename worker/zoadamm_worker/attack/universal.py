"""A universal perturbation by ZO: one δ that fools the victim on many images at once.

δ is fitted on MNIST training images and judged on held-out test images.  Its loss is the
per-image attack loss averaged over a minibatch of training images drawn afresh each step:

    f(δ) = mean_{i ∈ B} max{log p_{y_i}(x_i + P_i(δ)) − max_{j≠y_i} log p_j(x_i + P_i(δ)), −κ}

X is the ball ‖δ‖ ≤ ε alone (the session's constraint): no pixel box fits every image, so each
image's P_i clips its own pixels, as the per-image attack's P does.  One step is one victim
request of |B|·(1 + q) images; the budget counts them all.  The result is the fooling rate: the
fraction of the test images the victim classifies correctly whose class δ changes.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from zoadamm import Ball, FeasibleSet

from ..mnist import load_mnist
from .feasible import PerturbationSet, norms
from .objective import KAPPA, Ask, ProbeLosses
from .targets import REQUEST_IMAGES, SELECTION, load_test_images, select_targets
from .victim_client import VictimClient
from .watch import QueryCount, Stop, margins
from .zo import open_session, run_loop
from .zo_settings import ZoSettings

EVALUATION = "evaluation"  # the victim's tag (after the run's id) of the fooling-rate requests


@dataclass(frozen=True)
class UniversalRun:
    """The data of a universal attack: ``train_images`` from the training set's start, drawn
    ``batch`` at a time, and the test window ``[offset, offset + images)`` to judge δ on."""

    norm: str
    eps: float
    budget: int
    train_images: int = 1000
    batch: int = 10
    images: int = 200
    offset: int = 0


class MinibatchObjective(ProbeLosses):
    """f(δ) averaged over a fresh minibatch per evaluation (one request per ZO step)."""

    def __init__(self, ask: Ask, images: np.ndarray, labels: np.ndarray, run: UniversalRun, tag: str,
                 seed: int, kappa: float = KAPPA) -> None:
        self.ask, self.labels, self.run, self.tag, self.kappa = ask, labels, run, tag, kappa
        self.balls = [PerturbationSet(image, run.norm, run.eps) for image in images]
        self.dim = images.shape[1]
        self.rng = np.random.default_rng(seed)
        self._count = QueryCount()

    @property
    def counted(self) -> int:
        """The queries sent so far, every image of every minibatch."""
        return self._count.sent

    @property
    def done(self) -> bool:
        return self.counted >= self.run.budget

    def losses(self, deltas: np.ndarray) -> np.ndarray:
        chosen = self.rng.choice(len(self.balls), size=min(self.run.batch, len(self.balls)), replace=False)
        images = np.concatenate([self.balls[i].images(deltas) for i in chosen])  # image-major
        if self.counted + len(images) > self.run.budget:
            raise Stop(f"{self.run.budget - self.counted} queries left, {len(images)} asked for")
        probabilities, counted = self.ask(images, self.tag)
        self._count.add(len(images), counted)
        values = np.stack([margins(rows, int(self.labels[i]))
                           for i, rows in zip(chosen, np.split(probabilities, len(chosen)), strict=True)])
        return np.maximum(values, -self.kappa).mean(axis=0)


def fooling(ask: Ask, delta: np.ndarray, images: np.ndarray, norm: str, eps: float, tag: str) -> np.ndarray:
    """The victim's classes of x_i + P_i(δ) for each image, in requests of REQUEST_IMAGES at most."""
    if not len(images):  # every test image misclassified: nothing to judge
        return np.zeros(0, int)
    perturbed = np.concatenate([PerturbationSet(image, norm, eps).images(delta[None]) for image in images])
    answers = [ask(perturbed[at:at + REQUEST_IMAGES], tag).probabilities
               for at in range(0, len(perturbed), REQUEST_IMAGES)]
    return np.argmax(np.concatenate(answers), axis=1)


def check_run(zo: ZoSettings, run: UniversalRun) -> None:
    """Raises ValueError naming the first setting of a universal attack that cannot run."""
    step = min(run.batch, run.train_images) * (zo.directions + 1)
    if step > REQUEST_IMAGES:
        raise ValueError(f"--batch {run.batch} with --directions {zo.directions}: a step asks the victim about "
                         f"batch · (1 + q) = {step} images in one request, and a request carries at most "
                         f"{REQUEST_IMAGES}: lower --batch or --directions")
    if run.budget < step:
        raise ValueError(f"a budget of {run.budget} queries cannot pay for one step of the universal attack, "
                         f"which costs batch · (1 + q) = {step} (--batch {run.batch}, --directions "
                         f"{zo.directions}): raise --budget or lower --batch or --directions")


def run_universal(zo: ZoSettings, run: UniversalRun, victim: str) -> tuple[dict, list[dict], np.ndarray]:
    """Fit δ on the training images, then judge it on the test window.  Returns the summary,
    one record per judged test image (``index``, ``label``, ``predicted``, ``fooled``) and δ.

    Raises:
        ValueError: settings that cannot run (``check_run``).
        VictimError: the victim refused a request or is not reachable.
    """
    check_run(zo, run)
    run = replace(run, batch=min(run.batch, run.train_images))  # the batch every step used, as the summary says
    started = time.perf_counter()
    run_id = secrets.token_hex(4)
    train, train_labels = load_mnist().split("train")
    if run.train_images > len(train_labels):
        raise ValueError(f"--train-images {run.train_images}: MNIST has {len(train_labels)} training images")
    train = (train[:run.train_images].reshape(run.train_images, -1) / np.float32(255)).astype(np.float32)
    test, test_labels = load_test_images(run.offset, run.images)
    constraint = FeasibleSet(ball=Ball(run.norm, 0.0, run.eps))
    config = zo.session_config(train.shape[1], run.norm, constraint, zo.seed)
    with VictimClient(victim) as client:
        # the test images are judged before the fit: a victim that refuses them costs no fit
        targets, skipped = select_targets(run.offset, test, test_labels,
                                          lambda batch: client.predict(batch, f"{run_id}/{SELECTION}").probabilities)
        with open_session(zo, config, np.zeros(train.shape[1], np.float32)) as session:
            objective = MinibatchObjective(client.predict, train, train_labels[:run.train_images].astype(int), run,
                                           f"{run_id}/universal", seed=zo.seed)
            run_loop(session, objective, zo.difference)
            delta, steps = np.array(session.x), int(session.step)
        images = np.array([t.image for t in targets], np.float32).reshape(len(targets), -1)
        predicted = fooling(client.predict, delta, images, run.norm, run.eps, f"{run_id}/{EVALUATION}")
    records = [{"index": t.index, "label": t.label, "predicted": int(p), "fooled": bool(p != t.label)}
               for t, p in zip(targets, predicted, strict=True)]
    linf, l2 = norms(delta[None])
    summary = {"method": zo.method, "universal": True, **asdict(run), "lr": config.lr, "mu": zo.mu,
               "directions": zo.directions, "seed": zo.seed, "attacked": len(records),
               "skipped_misclassified": skipped,
               "fooling_rate": float(np.mean([r["fooled"] for r in records])) if records else None,
               "queries_total": objective.counted, "steps": steps,
               "linf": float(linf[0]), "l2": float(l2[0]), "seconds": round(time.perf_counter() - started, 2)}
    return summary, records, delta
