"""Request and answer schemas.  Vector fields (x, x0, gradient, u) are listed for the docs, but
they are read and written by ``codec`` so that they can also travel as raw float32."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from zoadamm import DIFFERENCES, DISTRIBUTIONS, METHODS, NORMALIZERS


class OneOf:
    """``Annotated[str, OneOf(values)]``: a string limited to ``values``, validated and listed as
    an enum in the OpenAPI description, with the values taken from ``zoadamm`` itself."""

    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.literal_schema(list(self.values))


Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Decay = Annotated[float, Field(ge=0, lt=1)]
Vector = list[Finite]
# The largest integer a JavaScript client reads exactly from JSON (Number.MAX_SAFE_INTEGER):
# every integer the API takes stays within it, so no client turns one number into another.
SAFE_INT = 2**53 - 1
# Bounds that keep every session's state finite in float32: a step moves x by at most
# lr * |g|max / eps (|g| < 1.8e19 is checked per step), at most 1.8e34 with these bounds.
LR_MAX = 1e3
RADIUS = (1e-30, 1e30)  # mu and its floor: within float32's normal range
EPS = (1e-12, 1e3)
Rate = Annotated[float, Field(gt=0, le=LR_MAX, allow_inf_nan=False)]
Radius = Annotated[float, Field(ge=RADIUS[0], le=RADIUS[1], allow_inf_nan=False)]


class Strict(BaseModel):
    """No coercion: a bool is not an integer, a string is not a number (as the schema says)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class Schedule(Strict):
    """Plateau schedule on the reported metric: lr and mu are multiplied by ``factor`` after more
    than ``patience`` reports without improvement, and never go below their floors."""

    factor: float = Field(0.5, gt=0, lt=1)
    patience: int = Field(2, ge=0, le=SAFE_INT)
    min_lr: Rate = 1e-6
    min_mu: Radius = 1e-6
    threshold: float = Field(1e-4, ge=0, lt=1, description="Relative improvement that counts.")


class SessionCreate(Strict):
    dim: int = Field(ge=1, le=SAFE_INT, description="Number of parameters d (at most ZOADAMM_MAX_DIM).")
    method: Annotated[str, OneOf(METHODS)] = Field(
        "zo-adamm", description="zo-adamm takes function values; adamm takes exact gradients.")
    lr: Rate = 1e-3
    mu: Radius = Field(1e-3, description="Smoothing radius: the client evaluates f(x + mu u).")
    beta1: Decay = 0.9
    beta2: Decay = 0.999
    eps: float = Field(1e-8, ge=EPS[0], le=EPS[1], allow_inf_nan=False)
    normalizer: Annotated[str, OneOf(NORMALIZERS)] = Field(
        "v_hat", description="v reproduces the paper's code (divides by sqrt(v)).")
    directions: int = Field(1, ge=1, le=SAFE_INT, description="q: directions per step (Eq. 2; at most "
                                                                "ZOADAMM_MAX_DIRECTIONS).")
    distribution: Annotated[str, OneOf(DISTRIBUTIONS)] = "sphere"
    difference: Annotated[str, OneOf(DIFFERENCES)] = "forward"
    seed: int | None = Field(
        None, ge=0, le=SAFE_INT,
        description="Directions derive from (seed, step, index); random when omitted.  At most 2^53 - 1, "
                    "so that every JSON client reads it back exactly.")
    schedule: Schedule | None = Field(default_factory=Schedule, description="null disables the schedule.")
    name: str | None = Field(None, max_length=200)
    x0: Vector | None = Field(None, description="Initial parameters; otherwise the first ask's x.")

    def config(self) -> dict:
        return self.model_dump(exclude={"name", "x0"})


class SessionPublic(BaseModel):
    id: str
    name: str | None
    created: float
    config: dict
    step: int = Field(description="The open step: the next tell must carry it.")
    has_parameters: bool
    lr: float
    mu: float
    recent_metrics: list[dict]


class SessionSummary(BaseModel):
    id: str
    name: str | None
    created: float
    config: dict


class SessionList(BaseModel):
    sessions: list[SessionSummary]
    total: int


class AskRequest(Strict):
    x: Vector | None = Field(None, description="Current parameters: set before step 0, checked after.")
    lease: int | None = Field(None, ge=1, description="Lease up to this many directions of the open step.")
    worker: str | None = Field(
        None, min_length=1, max_length=64, description="The leasing worker's name: asking again returns its lease.")
    wait: float = Field(0.0, ge=0, le=30, description="Seconds to wait when nothing can be leased now.")
    since: int | None = Field(None, ge=0, description="The step your x is at: the answer lists the steps since.")
    until: int | None = Field(None, ge=0, description="Lease nothing on this step or later.")


class StepRecordPublic(BaseModel):
    step: int
    lr: float = Field(description="lr the step used.")
    checksum: str = Field(description="CRC-32 of x before the step.")
    coefficients: list[float] = Field(description="The step's c_i: g = sum c_i u_i.")


class AskAnswer(BaseModel):
    step: int
    seed: int
    mu: float
    lr: float
    directions: int
    distribution: str
    difference: str
    method: str
    u: list[Vector] | None = Field(None, description="The q directions, with ?vectors=true.")
    leased: list[int] | None = Field(None, description="Directions leased to you (asks with lease).")
    lease_seconds: float | None = Field(None, description="How long a new lease lasts.")
    lease_expires: float | None = Field(None, description="When this lease runs out (Unix time, the service's clock).")
    steps: list[StepRecordPublic] | None = Field(
        None, description="The steps closed since `since`, oldest first; null when they are not all kept.")


class TellRequest(Strict):
    step: int = Field(ge=0, le=SAFE_INT, description="The step these values belong to (from ask or the last tell).")
    f_x: Finite | list[Finite] | None = Field(None, description="f(x); one value, or one per reported direction.")
    f_plus: list[Finite] | None = Field(None, description="f(x + mu u_i) for each direction (ZO).")
    f_minus: list[Finite] | None = Field(None, description="f(x - mu u_i) (ZO, central difference).")
    indices: list[Annotated[int, Field(ge=0, le=SAFE_INT)]] | None = Field(
        None, description="Directions this report covers, when workers split a step.")
    gradient: Vector | None = Field(None, description="Exact gradient (adamm sessions).")
    lease: int | None = Field(
        None, ge=1, description="Also lease up to this many directions of the next step (zo-adamm, answer=checksum): "
                                "the answer waits for the told step to close.")
    worker: str | None = Field(
        None, min_length=1, max_length=64, description="The leasing worker's name (required with lease).")
    wait: float = Field(0.0, ge=0, le=30, description="With lease: seconds to wait for the told step to close.")
    until: int | None = Field(None, ge=0, description="With lease: lease nothing on this step or later.")


class TellAnswer(BaseModel):
    step: int = Field(description="The next open step.")
    lr: float
    mu: float
    x: Vector | None = Field(None, description="Updated parameters (answer=x).")
    checksum: str | None = Field(None, description="CRC-32 of x *before* this step (answer=checksum).")
    step_lr: float | None = Field(None, description="lr this step used (answer=checksum).")
    coefficients: list[float] | None = Field(None, description="The step's c_i, g = sum c_i u_i (answer=checksum).")
    pending: list[int] | None = Field(None, description="Directions still missing from a split step (202).")
    leased: list[int] | None = Field(None, description="With lease: directions of `step` leased to you.")
    lease_seconds: float | None = Field(None, description="With lease: how long a new lease lasts.")
    lease_expires: float | None = Field(None, description="With lease: when your lease runs out (Unix time).")
    steps: list[StepRecordPublic] | None = Field(
        None, description="With lease: the steps closed since the told one, oldest first; null when not all kept.")


class MetricsRequest(Strict):
    value: Finite = Field(description="Validation loss; drives the plateau schedule.")
    metrics: dict[str, Finite] = Field(default_factory=dict, description="Other named numbers to keep.")


class MetricsAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")
    step: int
    value: float
    lr: float
    mu: float
    time: float


class Parameters(BaseModel):
    step: int
    x: Vector
