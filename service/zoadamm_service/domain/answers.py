"""What the service answers, one pydantic model per answer: the session rules build them, the
routes send them (``api.codec.answer``) and the OpenAPI description is made from them.

An answer is sent with the fields that were set only (``exclude_unset``): a tell answered with
x has no checksum, an ask without a lease has no lease fields.  Vector fields (``VECTORS``) hold
numpy arrays, which the codec sends as raw float32 in the binary frame or as JSON lists; they
are described as lists of numbers.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

VECTORS = ("x", "u")
_NUMBERS = {"type": "array", "items": {"type": "number"}}
Vector = Annotated[Any, WithJsonSchema(_NUMBERS)]
Vectors = Annotated[Any, WithJsonSchema({"type": "array", "items": _NUMBERS})]


class SessionSummary(BaseModel):
    id: str
    name: str | None
    created: float
    config: dict


class SessionPublic(SessionSummary):
    step: int = Field(description="The open step: the next tell must carry it.")
    has_parameters: bool
    lr: float
    mu: float
    recent_metrics: list[dict]
    # the config's vectors ("constraint.box.lower", ...): sent beside the fields, as frame
    # vectors or top-level JSON lists, never inside ``config`` (at large d they are megabytes)
    vectors: dict[str, Any] = Field(default_factory=dict, exclude=True)


class SessionList(BaseModel):
    sessions: list[SessionSummary]
    total: int


class StepRecordPublic(BaseModel):
    step: int
    lr: float = Field(description="lr the step used.")
    checksum: str = Field(description="CRC-32 of x before the step.")
    coefficients: list[float] = Field(description="The step's c_i: g = sum c_i u_i.")


class LeaseFields(BaseModel):
    """What an ask or a tell made with ``lease`` adds to its answer (docs/api.md)."""

    leased: list[int] | None = Field(None, description="With lease: the directions of `step` leased to you.")
    lease_seconds: float | None = Field(None, description="With lease: how long a new lease lasts.")
    lease_expires: float | None = Field(
        None, description="With lease: when your lease runs out (Unix time, the service's clock).")
    steps: list[StepRecordPublic] | None = Field(
        None, description="With lease: the steps closed since your x (an ask's `since`, a tell's step), oldest "
                          "first; null when they are not all kept.")

    def lease_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LeaseFields.model_fields}


# The answers list a step's own fields first, then the lease's: a model's fields follow its bases
# in reverse order (the step's base is the last one).
class _OpenStep(BaseModel):
    step: int
    seed: int
    mu: float
    lr: float
    directions: int
    distribution: str
    difference: str
    method: str
    u: Vectors | None = Field(None, description="The q directions, with ?vectors=true.")


class AskAnswer(LeaseFields, _OpenStep):
    pass


class _Update(BaseModel):
    step: int = Field(description="The next open step.")
    lr: float
    mu: float
    x: Vector | None = Field(None, description="Updated parameters (answer=x).")
    checksum: str | None = Field(None, description="CRC-32 of x *before* this step (answer=checksum).")
    step_lr: float | None = Field(None, description="lr this step used (answer=checksum).")
    coefficients: list[float] | None = Field(None, description="The step's c_i, g = sum c_i u_i (answer=checksum).")
    pending: list[int] | None = Field(None, description="Directions still missing from a split step (202).")


class TellAnswer(LeaseFields, _Update):
    @property
    def status(self) -> int:
        """202 while a split step still misses directions, else 200."""
        return 202 if self.pending is not None else 200


class MetricsAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")
    step: int
    value: float
    lr: float
    mu: float
    time: float


class MetricsList(BaseModel):
    items: list[MetricsAnswer] = Field(description="Reports, oldest first.")
    next_cursor: int | None = Field(description="The cursor of the next page; null: this page reached the newest.")
    end_cursor: int = Field(description="The cursor after the newest report: where new reports will start.")


class Parameters(BaseModel):
    step: int
    x: Vector


class TraceAnswer(BaseModel):
    stride: int = Field(description="Points are kept every stride-th step; it doubles when the trace is full.")
    since: int
    step: list[int]
    time: list[float] = Field(description="Unix time each step was committed.")
    f: list[float | None] = Field(description="ZO: mean f_x reported (central: mean of (f_plus+f_minus)/2); FO: null.")
    g_norm: list[float] = Field(
        description="FO: gradient norm; ZO: sqrt(E||u||^2 sum c_i^2), exact for q=1 on the sphere.")
    spread: list[float | None] = Field(description="ZO: standard deviation of the q coefficients; FO: null.")
    lr: list[float]
    mu: list[float]
    last: dict | None = Field(description="The newest point, kept whatever the stride.")
