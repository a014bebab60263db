"""The settings of the ZO attacks and their defaults, apart from the attack code so that the
command line's parser can name them without importing the victim's client (torch)."""

from __future__ import annotations

from dataclasses import dataclass

from zoadamm import FeasibleSet, SessionConfig

ZO_METHODS = ("zo-adamm", "zo-sgd", "zo-signsgd")
# lr per norm and method, from a coarse sweep on test images 9000 to 9015, outside every reported
# window (docs/attack.md): AdaMM and signSGD move each pixel by about lr a step; SGD's step is the
# raw estimate's.  The ℓ2 ball (radius 2 over 784 pixels) wants smaller steps than the ℓ∞ one.
DEFAULT_LR = {"inf": {"zo-adamm": 0.01, "zo-sgd": 0.002, "zo-signsgd": 0.005},
              "2": {"zo-adamm": 0.002, "zo-sgd": 0.001, "zo-signsgd": 0.005}}
DEFAULT_MU = 0.005  # in pixels: far above float32's rounding of the margin, far below ε
DEFAULT_DIRECTIONS = 10
DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class ZoSettings:
    """The optimizer's side of a ZO attack; ``service`` None runs it in process."""

    method: str = "zo-adamm"
    lr: float | None = None  # None: DEFAULT_LR[norm][method]
    mu: float = DEFAULT_MU
    directions: int = DEFAULT_DIRECTIONS
    difference: str = "forward"
    seed: int = 0
    service: str | None = None
    # on the service: keep a mirror of the state and send each tell while the next step is
    # measured (RemoteOptimizer's mirror and pipeline); the service answers a checksum, not x
    mirror: bool = False

    def session_config(self, dim: int, norm: str, constraint: FeasibleSet | None, seed: int) -> SessionConfig:
        """The session of one attack in the ball of ``norm``: no plateau schedule (an attack
        reports no metric)."""
        return SessionConfig(dim=dim, method=self.method, lr=self.lr or DEFAULT_LR[norm][self.method], mu=self.mu,
                             directions=self.directions, difference=self.difference, seed=seed,
                             schedule=None, constraint=constraint)

