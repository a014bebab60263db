"""What the session rules answer, as small types; the routes turn them into JSON or frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepOpened:
    """The answer to ask: the open step and what a client needs to evaluate it."""

    step: int
    seed: int
    mu: float
    lr: float
    directions: int
    distribution: str
    difference: str
    method: str
    u: np.ndarray | None = None  # (q, d), only when asked for

    def fields(self) -> dict:
        return {
            "step": self.step, "seed": self.seed, "mu": self.mu, "lr": self.lr,
            "directions": self.directions, "distribution": self.distribution,
            "difference": self.difference, "method": self.method,
        }


@dataclass(frozen=True)
class StepResult:
    """The answer to a tell: the next open step with lr and mu, and either x (answer=x), or the
    checksum of x before the step with the step's lr and coefficients (answer=checksum), or the
    directions a split step still misses (``pending``, HTTP 202)."""

    step: int
    lr: float
    mu: float
    x: np.ndarray | None = None
    checksum: str | None = None
    step_lr: float | None = None
    coefficients: np.ndarray | None = None  # None for a gradient step
    pending: list[int] | None = None

    @property
    def status(self) -> int:
        return 200 if self.pending is None else 202

    def fields(self) -> dict:
        fields: dict = {"step": self.step, "lr": self.lr, "mu": self.mu}
        if self.pending is not None:
            fields["pending"] = self.pending
        if self.checksum is not None:
            coefficients = None if self.coefficients is None else self.coefficients.tolist()
            fields.update(step_lr=self.step_lr, checksum=self.checksum, coefficients=coefficients)
        return fields


@dataclass(frozen=True)
class Parameters:
    step: int
    x: np.ndarray
