"""Typed answers of the API: the fields of the service's answer models (its OpenAPI schemas
``SessionPublic``, ``AskAnswer``, ``TellAnswer``, ...), as dataclasses with numpy vectors.
``tests/sdk/test_models.py`` holds the two to the same fields."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..optimizer import SessionConfig


@dataclass(frozen=True)
class SessionSummary:
    """A row of ``sessions.list()``: what is fixed at creation (``get`` has the live state)."""

    id: str
    name: str | None
    created: float
    config: dict


@dataclass(frozen=True)
class Session(SessionSummary):
    step: int = 0
    has_parameters: bool = False
    lr: float | None = None
    mu: float | None = None
    recent_metrics: list[dict] = field(default_factory=list)
    vectors: dict = field(default_factory=dict)  # the config's vectors, e.g. "constraint.box.lower"

    @property
    def dim(self) -> int:
        return self.config["dim"]

    def session_config(self) -> SessionConfig:
        """The session's ``SessionConfig``, its constraint's vectors joined in.

        Raises:
            zoadamm.InvalidArgument: the answer lacked a vector the config needs (a create
                answered again for its Idempotency-Key carries none: ``sessions.get`` does).
        """
        return SessionConfig.from_dict(self.config, self.vectors)


@dataclass(frozen=True, kw_only=True)
class Leasing:
    """The fields of an ask's or a tell's answer when it carries a lease (keyword-only)."""

    leased: list[int] | None = None  # the directions of ``step`` leased to this worker
    lease_seconds: float | None = None
    lease_expires: float | None = None  # Unix time, by the service's clock
    steps: list[ClosedStep] | None = None  # the steps closed since the worker's x, oldest first


@dataclass(frozen=True, eq=False)  # holds arrays: compared as objects, not field by field
class StepInfo(Leasing):
    """The open step of a session (answer to ask)."""

    step: int
    seed: int
    mu: float
    lr: float
    directions: int
    distribution: str
    difference: str
    method: str
    u: np.ndarray | None = None  # (q, d), with vectors=True


@dataclass(frozen=True, eq=False)  # holds arrays: compared as objects, not field by field
class ClosedStep:
    """A closed ZO step as a worker that follows x applies it (``StepInfo.steps``)."""

    step: int
    lr: float
    checksum: str  # CRC-32 of x before the step
    coefficients: np.ndarray  # float32, as journaled


@dataclass(frozen=True, eq=False)  # holds arrays: compared as objects, not field by field
class TellResult(Leasing):
    step: int  # the next open step
    lr: float
    mu: float
    x: np.ndarray | None = None
    checksum: str | None = None
    step_lr: float | None = None
    coefficients: np.ndarray | None = None
    pending: list[int] | None = None  # a split step still waiting for these directions


@dataclass(frozen=True, eq=False)  # holds arrays: compared as objects, not field by field
class Parameters:
    step: int
    x: np.ndarray


@dataclass(frozen=True, eq=False)  # holds arrays: compared as objects, not field by field
class Trace:
    """The service's per-step trace of a session (``sessions.trace``): one entry per kept step.

    ``f`` is the mean f_x the ZO step reported (NaN for FO); ``g_norm`` the gradient norm (FO)
    or sqrt(E||u||^2 sum c_i^2) (ZO, exact for q = 1 on the sphere); ``spread`` the standard
    deviation of the q coefficients (NaN for FO).  Steps are kept every ``stride``-th step.
    """

    stride: int
    step: np.ndarray  # int64
    time: np.ndarray  # float64, Unix seconds
    f: np.ndarray
    g_norm: np.ndarray
    spread: np.ndarray
    lr: np.ndarray
    mu: np.ndarray
    last: dict | None = None  # the newest step's point, whatever the stride
    since: int = 0  # the first step asked for (points of steps >= since)

    def __len__(self) -> int:
        return int(self.step.size)
