"""Plateau schedule for lr and mu together, as the paper used it on the validation loss.

Same rule as ``torch.optim.lr_scheduler.ReduceLROnPlateau(mode="min", threshold=1e-4,
threshold_mode="rel")``: a value improves when it is below ``best * (1 - threshold)``; after more
than ``patience`` values without improvement, lr and mu are multiplied by ``factor`` (floored at
``min_lr`` / ``min_mu``) and the count restarts.  A value already below its floor stays where it
is: a decay never raises it (torch applies a new lr only when it is lower), so mu only ever
falls, which the probes kept inside a shrunk feasible set rely on (docs/constraints.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ._validate import InvalidArgument, positive_float


@dataclass(frozen=True)
class PlateauConfig:
    factor: float = 0.5
    patience: int = 2
    min_lr: float = 1e-6
    min_mu: float = 1e-6
    threshold: float = 1e-4

    def __post_init__(self) -> None:
        if not (0.0 < self.factor < 1.0):
            raise InvalidArgument(f"schedule.factor must be in (0, 1), got {self.factor!r}")
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 0:
            raise InvalidArgument(f"schedule.patience must be an integer >= 0, got {self.patience!r}")
        positive_float("schedule.min_lr", self.min_lr)
        positive_float("schedule.min_mu", self.min_mu)
        if not (0.0 <= self.threshold < 1.0):
            raise InvalidArgument(f"schedule.threshold must be in [0, 1), got {self.threshold!r}")


@dataclass(frozen=True)
class PlateauState:
    best: float = math.inf
    bad_epochs: int = 0


def plateau_step(
    config: PlateauConfig, state: PlateauState, value: float, lr: float, mu: float
) -> tuple[PlateauState, float, float]:
    """Feed one validation value; returns the new schedule state, lr and mu.

    Raises:
        InvalidArgument: ``value`` is NaN or infinite.
    """
    if not math.isfinite(value):
        raise InvalidArgument(f"metric value must be finite, got {value!r}")
    if value < state.best * (1.0 - config.threshold):
        return PlateauState(best=value, bad_epochs=0), lr, mu
    state = replace(state, bad_epochs=state.bad_epochs + 1)
    if state.bad_epochs > config.patience:
        lr = min(lr, max(lr * config.factor, config.min_lr))
        mu = min(mu, max(mu * config.factor, config.min_mu))
        state = replace(state, bad_epochs=0)
    return state, lr, mu
