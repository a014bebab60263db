"""The objective of a per-image attack, evaluated through the victim (``docs/attack.md``).

The loss of ZOO (Chen et al. 2017) and of ZO-AdaMM's attack experiments (Chen et al. 2019),
untargeted, on the victim's log-probabilities at the image x₀ + P(δ) of X:

    f(δ) = max{log p_y − max_{j≠y} log p_j, −κ}  (+ c·‖P(δ)‖² for the ℓ2 attack)

A ZO step's points, δ and δ ± μu_i for its q directions, go to the victim in one request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import zoadamm
from zoadamm import DIFFERENCES

from ..model import CLASSES
from .feasible import PerturbationSet
from .victim_client import Prediction, VictimError
from .watch import QueryWatch, Stop, margins

# κ = 0: an untargeted attack only has to cross the decision boundary, and each attack stops
# at the first query that does; confidence beyond it would cost queries for nothing.
KAPPA = 0.0
# c for the ℓ2 attack: the distortion term (at most c·ε² in the ball) stays small beside the
# margin an attack starts from, so it steers only near the boundary, toward the smaller of two
# perturbations that reach it.
L2_PENALTY = 0.1

Ask = Callable[[np.ndarray, str], Prediction]  # (images (k, 784), tag) -> probabilities, count


@dataclass(frozen=True)
class Target:
    """A test image the victim classifies correctly: its MNIST test index, flat float32 pixels, label."""

    index: int
    image: np.ndarray
    label: int

    def __post_init__(self) -> None:
        if not (isinstance(self.label, int | np.integer) and 0 <= self.label < CLASSES):
            raise ValueError(f"label must be a digit's class, 0 to {CLASSES - 1}, not {self.label!r}")

    @property
    def tag(self) -> str:
        """The victim's name for this image's queries."""
        return f"image-{self.index}"


class ImageQueries:
    """The queries of one image's attack: moved into X, sent to the victim, watched.

    ``ask`` is the victim's predict (``VictimClient.predict``).  ``tag`` (default: the
    target's) names the queries for the victim; attacks that run at the same time need tags of
    their own, since the query count is the victim's count of the tag.
    """

    def __init__(self, ask: Ask, target: Target, feasible: PerturbationSet, budget: int,
                 tag: str | None = None) -> None:
        self.ask, self.target, self.feasible = ask, target, feasible
        self.tag = tag or target.tag
        self.watch = QueryWatch(target.image, target.label, budget)

    def probabilities(self, deltas: np.ndarray, partial: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(images of X, their probabilities) for the perturbations ``deltas`` (k, 784), in one
        request.  With ``partial``, only as many as the budget has left are sent.

        Raises:
            Stop: the budget is spent, or (without ``partial``) cannot cover all k.
            VictimError: the victim refused the request or is not reachable.
        """
        return self.send(self.feasible.images(deltas), partial)

    def send(self, images: np.ndarray, partial: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`probabilities` for images of X already (``feasible.images``' output)."""
        allowed = min(len(images), self.watch.remaining)
        if allowed <= 0 or (allowed < len(images) and not partial):
            raise Stop(f"{self.watch.remaining} queries left, {len(images)} asked for")
        images = images[:allowed]
        probabilities, counted = self.ask(images, self.tag)
        if probabilities.shape[1] <= self.target.label:  # no margin to measure: the victim's fault, said so
            raise VictimError(f"the victim answered {probabilities.shape[1]} probabilities per image, and "
                              f"image {self.target.index}'s label is {self.target.label}: it must answer one "
                              f"per class, {CLASSES} for MNIST's digits")
        self.watch.observe(images, probabilities, counted)
        return images, probabilities


class ProbeLosses:
    """A loss over perturbations evaluated a ZO step at a time: subclasses give ``dim`` and
    ``losses`` (f at each row of a (k, dim) array, in one victim request)."""

    dim: int

    @property
    def done(self) -> bool:
        """The loop stops: the attack succeeded or its budget is spent."""
        raise NotImplementedError

    @property
    def succeeded(self) -> bool:
        """The attack reached its goal: a step after that would only move past it."""
        return False

    def losses(self, deltas: np.ndarray) -> np.ndarray:
        """f at each row of ``deltas`` (k, dim), all in one victim request.

        Raises:
            Stop: the budget cannot cover all k points (none is sent then).
            VictimError: the victim refused or is not reachable.
        """
        raise NotImplementedError

    def zo_losses(self, delta: np.ndarray, directions: np.ndarray | tuple, mu: float,
                  difference: str = "forward") -> tuple[float, np.ndarray, np.ndarray | None]:
        """(f(δ), f(δ + μu_i) for i < q, f(δ − μu_i) or None): one request of 1 + q (or 1 + 2q)
        images.  ``directions`` is the (q, 784) float32 array, or ``(seed, step, q[, distribution])``
        to regenerate it with ``zoadamm.directions``.  Points are ``δ ± float32(μ)·u`` in
        float32, as ``zoadamm.zo_gradient`` forms them.

        Raises:
            ValueError: an unknown difference, μ ≤ 0, or directions of the wrong shape.
            Stop, VictimError: as :meth:`losses`.
        """
        if difference not in DIFFERENCES:
            raise ValueError(f"difference must be one of {DIFFERENCES}, got {difference!r}")
        if not mu > 0:
            raise ValueError(f"mu must be positive, got {mu!r}")
        u = self._directions(directions)
        delta = np.asarray(delta, dtype=np.float32).reshape(self.dim)
        step = np.float32(mu) * u
        points = [delta[None], delta + step] + ([delta - step] if difference == "central" else [])
        values = self.losses(np.concatenate(points))
        q = len(u)
        return float(values[0]), values[1 : q + 1], (values[q + 1 :] if difference == "central" else None)

    def _directions(self, directions: np.ndarray | tuple) -> np.ndarray:
        if isinstance(directions, np.ndarray):
            if directions.dtype != np.float32 or directions.ndim != 2 or directions.shape[1] != self.dim:
                raise ValueError(f"directions must be float32 of shape (q, {self.dim}), "
                                 f"got {directions.dtype} {directions.shape}")
            return directions
        seed, step, q, *distribution = directions
        return zoadamm.directions(seed, step, q, self.dim, *distribution)


class AttackObjective(ProbeLosses):
    """f(δ) on one image through the victim; ``queries.watch`` has the success and the count."""

    def __init__(self, queries: ImageQueries, kappa: float = KAPPA, c: float = L2_PENALTY) -> None:
        self.queries, self.kappa = queries, kappa
        self.c = c if queries.feasible.norm == "2" else 0.0
        self.dim = queries.target.image.size

    @property
    def done(self) -> bool:
        """The attack succeeded or its budget is spent: the loop stops."""
        return self.queries.watch.done

    @property
    def succeeded(self) -> bool:
        return self.queries.watch.succeeded

    def losses(self, deltas: np.ndarray) -> np.ndarray:
        images, probabilities = self.queries.probabilities(deltas)
        values = np.maximum(margins(probabilities, self.queries.target.label), -self.kappa)
        if self.c:
            moved = images.astype(np.float64) - self.queries.target.image
            values += self.c * np.einsum("ij,ij->i", moved, moved)
        return values
