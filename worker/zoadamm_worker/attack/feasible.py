"""The feasible set of a per-image attack, X = {δ : ‖δ‖ ≤ ε and 0 ≤ x₀ + δ ≤ 1}, and the map
that brings any point into it before the victim sees it.

Every image an attack sends is ``x₀ + P(δ)``: an optimizer's iterate is in X already (P is the
identity there), and a probe ``δ + μu`` near X's boundary, or a point of a peer attack that does
not know ε (ZOO), is moved into X.  So the victim only ever sees images of X, and all methods
attack the same function δ ↦ loss(x₀ + P(δ)).

- ℓ∞: X is the box [max(−x₀, −ε), min(1 − x₀, ε)] and P clips to it: the exact projection.
- ℓ2: P clips to the pixel box, then shrinks toward x₀ onto the ball when outside it.  The
  result is in X (the box holds x₀, and it is convex), and P is the identity on X; it is not
  the Euclidean projection onto the intersection, which an optimizer's own step needs and the
  probes do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NORMS = ("inf", "2")
# The float32 rounding of x₀ + δ may move a pixel by one ulp: membership allows this much.
TOLERANCE = 1e-6


def norms(deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ℓ∞, ℓ2) of each row of ``deltas`` (k, d), in float64."""
    deltas = np.asarray(deltas, dtype=np.float64).reshape(len(deltas), -1)
    return np.abs(deltas).max(axis=1), np.sqrt(np.einsum("ij,ij->i", deltas, deltas))


@dataclass(frozen=True)
class PerturbationSet:
    """X around the image ``origin`` (flat float32 pixels in [0, 1]) for ``norm`` and radius ``eps``.

    Raises:
        ValueError: an unknown norm or a radius that is not positive and finite.
    """

    origin: np.ndarray
    norm: str
    eps: float

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if not (np.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps must be a positive number, got {self.eps!r}")

    def images(self, deltas: np.ndarray) -> np.ndarray:
        """x₀ + P(δ) for each row of ``deltas`` (k, d): float32 images of X, shape (k, d)."""
        x0 = self.origin.astype(np.float64)
        points = x0 + np.asarray(deltas, dtype=np.float64).reshape(-1, x0.size)
        if self.norm == "inf":
            np.clip(points, np.maximum(x0 - self.eps, 0.0), np.minimum(x0 + self.eps, 1.0), out=points)
        else:
            np.clip(points, 0.0, 1.0, out=points)
            moved = points - x0
            length = np.sqrt(np.einsum("ij,ij->i", moved, moved))
            shrink = np.minimum(1.0, self.eps / np.maximum(length, np.finfo(np.float64).tiny))
            points = x0 + moved * shrink[:, None]
        return np.clip(points.astype(np.float32), 0.0, 1.0)

    def contains(self, images: np.ndarray) -> np.ndarray:
        """Which rows of ``images`` (k, d) lie in x₀ + X, within TOLERANCE."""
        images = np.asarray(images, dtype=np.float64).reshape(-1, self.origin.size)
        inside_box = (images >= 0).all(axis=1) & (images <= 1).all(axis=1)
        linf, l2 = norms(images - self.origin.astype(np.float64))
        return inside_box & ((linf if self.norm == "inf" else l2) <= self.eps + TOLERANCE)
