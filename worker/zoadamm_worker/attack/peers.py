"""The Adversarial Robustness Toolbox's black-box attacks, run through the REST victim.

ART's black-box classifier is given a predict function that asks the victim, so the victim
counts ART's queries as it counts ours.  On its way every query passes the same steps as the
ZO objective's (``ImageQueries``): moved into X (ZOO has no ε of its own), watched for the first
success, stopped at the budget.  The predict function answers log-probabilities: ART's ZOO then
minimises exactly ZOO's loss, max{log p_y − max_{j≠y} log p_j + κ, 0}, and Square Attack's
default loss (the top-two difference) is the same margin; their argmax is the victim's.

ART asks again about images it was answered already (Square Attack asks about its current
point three times an iteration); repeats are answered from a small cache, so the victim
counts what the algorithm needs, one query per new image.  ART draws from numpy's and
Python's global generators: each image's attack seeds them.
"""

from __future__ import annotations

import random
from collections import OrderedDict

import numpy as np
from art.attacks.evasion import SquareAttack, ZooAttack
from art.estimators.classification.blackbox import BlackBoxClassifierNeuralNetwork

from ..model import CLASSES
from .objective import KAPPA, L2_PENALTY, ImageQueries, Target
from .targets import REQUEST_IMAGES
from .watch import FLOOR, Stop

SHAPE = (1, 28, 28)
CACHE_IMAGES = 2048  # ART repeats points of its last iteration or two: two ZOO batches and more
ZOO_PARALLEL = 128  # coordinates per ZOO iteration (ART's default): up to 2 x 128 + 1 queries


class CachedPredict:
    """ART's predict function for one image's attack: log-probabilities from the victim."""

    def __init__(self, queries: ImageQueries) -> None:
        self.queries = queries
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Raises Stop once the attack succeeded or its budget is spent (ART cannot be told).

        A point with a NaN or infinite pixel is answered with NaN, as a model would answer it,
        and costs no query: ART's ℓ2 Square Attack proposes such points (it divides by a zero
        norm), and it discards a point whose loss is NaN.
        """
        origin = self.queries.target.image
        flat = batch.reshape(len(batch), -1)
        valid = np.isfinite(flat).all(axis=1)
        images = self.queries.feasible.images(flat[valid] - origin)
        keys = [image.tobytes() for image in images]
        new = list(dict.fromkeys(key for key in keys if key not in self._cache))
        answers = {}
        if new:
            fresh = np.stack([np.frombuffer(key, dtype=np.float32) for key in new])
            sent, probabilities = self.queries.send(fresh, partial=True)
            for key, row in zip(new, probabilities, strict=False):  # strict=False: cut by the budget
                answers[key] = np.log(np.maximum(row.astype(np.float64), FLOOR))
            if self.queries.watch.done or len(sent) < len(new):
                raise Stop("success" if self.queries.watch.succeeded else "budget spent")
        rows = np.full((len(batch), CLASSES), np.nan)
        for at, key in zip(np.flatnonzero(valid), keys, strict=True):
            rows[at] = answers[key] if key in answers else self._cache[key]
        for key, row in answers.items():
            self._remember(key, row)
        return rows

    def _remember(self, key: bytes, row: np.ndarray) -> None:
        self._cache[key] = row
        if len(self._cache) > CACHE_IMAGES:
            self._cache.popitem(last=False)


class OneRequestClassifier(BlackBoxClassifierNeuralNetwork):
    """ART's black-box classifier (the kind its Square Attack accepts) that sends each batch
    ART predicts in one victim request: ZOO's attacks ask with ``batch_size=1``, which would
    make every probe a request of its own."""

    def predict(self, x: np.ndarray, batch_size: int = 128, **kwargs) -> np.ndarray:
        return super().predict(x, batch_size=min(max(len(x), 1), REQUEST_IMAGES), **kwargs)


def _classifier(queries: ImageQueries) -> OneRequestClassifier:
    return OneRequestClassifier(CachedPredict(queries), SHAPE, CLASSES, channels_first=True, clip_values=(0.0, 1.0))


def _one_hot(label: int) -> np.ndarray:
    return np.eye(CLASSES, dtype=np.float32)[[label]]


def seed_generators(seed: int, index: int) -> None:
    """Seed the global generators ART draws from, for image ``index`` of a run seeded ``seed``."""
    random.seed(seed * 100_003 + index)
    np.random.seed((seed * 100_003 + index) % 2**32)


def generate(attack, target: Target) -> None:
    """Run the ART ``attack`` on ``target`` until it ends, succeeds or spends the budget."""
    try:
        attack.generate(target.image.reshape((1, *SHAPE)), y=_one_hot(target.label))
    except Stop:
        pass


def run_zoo(queries: ImageQueries, seed: int, c: float = L2_PENALTY) -> None:
    """ART's ZOO (Chen et al. 2017): coordinate-wise finite differences with Adam.

    Its objective is ‖δ‖² + C·loss; C = 1/c puts the same weight on the distortion as our
    ℓ2 objective.  One binary-search step (a budget is too short for several), no early abort,
    and as many iterations as the budget has queries, so that the budget ends the attack (an
    iteration whose probes all repeat earlier images costs no query); ART's defaults otherwise (coordinate Adam at
    lr 0.01, h = 1e-4, 128 coordinates an iteration), without resizing or importance sampling
    (ART samples by importance only on resized images, and 28 x 28 needs no resizing).
    """
    seed_generators(seed, queries.target.index)
    attack = ZooAttack(_classifier(queries), confidence=KAPPA, targeted=False, learning_rate=1e-2,
                       max_iter=queries.watch.budget, binary_search_steps=1, initial_const=1.0 / c,
                       abort_early=False, use_resize=False, use_importance=False,
                       nb_parallel=ZOO_PARALLEL, batch_size=1, variable_h=1e-4, verbose=False)
    generate(attack, queries.target)


def run_square(queries: ImageQueries, seed: int) -> None:
    """ART's Square Attack (Andriushchenko et al. 2020): random squares on the ball's surface,
    kept when the margin drops.  Its schedule of square sizes is spread over ``max_iter``,
    which is set to the budget (one new query per iteration); ART's defaults otherwise."""
    seed_generators(seed, queries.target.index)
    feasible = queries.feasible
    attack = SquareAttack(_classifier(queries), norm=np.inf if feasible.norm == "inf" else 2,
                          max_iter=queries.watch.budget, eps=feasible.eps, nb_restarts=1, batch_size=1,
                          verbose=False)
    generate(attack, queries.target)
