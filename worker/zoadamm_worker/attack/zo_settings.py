"""The settings of the ZO attacks and their defaults, apart from the attack code so that the
command line's parser can name them without importing the victim's client (torch)."""

from __future__ import annotations

from dataclasses import dataclass

from zoadamm import FeasibleSet, SessionConfig

ZO_METHODS = ("zo-adamm", "zo-sgd", "zo-signsgd")
# lr per method, chosen on test images outside every reported window (docs/attack.md): AdaMM and
# signSGD move each pixel by about lr a step; SGD's step is the raw estimate's, d/q times larger.
DEFAULT_LR = {"zo-adamm": 0.01, "zo-sgd": 0.002, "zo-signsgd": 0.005}
DEFAULT_MU = 0.005  # in pixels: far above float32's rounding of the margin, far below ε
DEFAULT_DIRECTIONS = 10
DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class ZoSettings:
    """The optimizer's side of a ZO attack; ``service`` None runs it in process."""

    method: str = "zo-adamm"
    lr: float | None = None  # None: DEFAULT_LR[method]
    mu: float = DEFAULT_MU
    directions: int = DEFAULT_DIRECTIONS
    difference: str = "forward"
    seed: int = 0
    service: str | None = None

    def session_config(self, dim: int, constraint: FeasibleSet | None, seed: int) -> SessionConfig:
        """The session of one attack: no plateau schedule (an attack reports no metric)."""
        return SessionConfig(dim=dim, method=self.method, lr=self.lr or DEFAULT_LR[self.method], mu=self.mu,
                             directions=self.directions, difference=self.difference, seed=seed,
                             schedule=None, constraint=constraint)

