"""Request schemas (the answers are ``domain.answers``).  Vector fields (x, x0, gradient) are
listed for the docs, but they are read by ``codec`` so that they can also travel as raw float32."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import core_schema

from zoadamm import DIFFERENCES, DISTRIBUTIONS, METHODS, NORMALIZERS
from zoadamm.optimizer import SessionConfig as Core
from zoadamm.schedule import PlateauConfig
from zoadamm.wire import SAFE_INT

from ..domain.leases import MAX_WAIT_S


class OneOf:
    """``Annotated[str, OneOf(values)]``: a string limited to ``values``, validated and listed as
    an enum in the OpenAPI description, with the values taken from ``zoadamm`` itself."""

    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.literal_schema(list(self.values))


def _whole(value: Any) -> Any:
    """7.0 as 7: JSON Schema's integer is any number without a fraction, and the schema says integer."""
    return int(value) if type(value) is float and value.is_integer() else value


WHOLE = BeforeValidator(_whole)
# an integer's bounds go before WHOLE, so that the schema states them
Whole = Annotated[int, WHOLE]
Count = Annotated[int, Field(ge=1, le=SAFE_INT), WHOLE]
Index = Annotated[int, Field(ge=0, le=SAFE_INT), WHOLE]
Step = Annotated[int, Field(ge=0, le=SAFE_INT), WHOLE]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Decay = Annotated[float, Field(ge=0, lt=1)]
# fail_fast: a list's first bad value ends its validation, where every bad value of a long list
# would make an error of its own (and a small body a huge answer)
Values = Annotated[list[Finite], Field(fail_fast=True)]


def _readable(kind: str):
    """A name that is shown and compared as given (a leasing worker's, a metric's): printable
    (no control or format characters, no lone surrogate, which no encoding can store) and no
    space at either end (two names that read alike would be two workers, or two metrics)."""

    def check(name: str) -> str:
        if name != name.strip() or not name.isprintable():
            raise ValueError(f"{kind} is printable: no control or format characters (a zero-width joiner, a "
                             "direction mark), and no space at either end")
        return name

    return AfterValidator(check)


# Bidi embeddings, overrides and isolates reorder the text after them where a view does not
# isolate the name (a log line, a terminal): one name could then read as another.  Zero-width
# space and the byte-order mark hide in a name.  Joiners (emoji, Indic and Persian scripts) and
# the direction marks LRM and RLM stay: words need them, and they move no text around them.
_HIDDEN = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\ufeff")


def _one_line(name: str) -> str:
    """A session's name: free text (any script, emoji, joiners and direction marks), on one line
    and without space at either end: no control character (NUL, a newline, a tab) or line
    separator, which break the logs and tables that print it, and no bidi override or isolate,
    zero-width space or byte-order mark (``_HIDDEN``)."""
    if name != name.strip() or any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        raise ValueError("a session's name is one line: no control characters or line breaks, no space at either end")
    if not _HIDDEN.isdisjoint(name):
        hidden = next(c for c in name if c in _HIDDEN)
        raise ValueError(f"a session's name has no bidi override or isolate, zero-width space or byte-order mark "
                         f"(U+{ord(hidden):04X} here): they reorder or hide text where the name is printed")
    return name


WorkerName = Annotated[str, Field(min_length=1, max_length=64), _readable("a worker's name")]
MetricName = Annotated[str, Field(min_length=1), _readable("a metric's name")]  # its length: a setting
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

    factor: float = Field(PlateauConfig.factor, gt=0, lt=1)
    patience: Whole = Field(PlateauConfig.patience, ge=0, le=SAFE_INT)
    min_lr: Rate = PlateauConfig.min_lr
    min_mu: Radius = PlateauConfig.min_mu
    threshold: float = Field(PlateauConfig.threshold, ge=0, lt=1, description="Relative improvement that counts.")


_NUMBERS = {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]}
# The constraint's shape for the docs: the core reads and checks it (``FeasibleSet.from_dict``),
# and a part's vector may instead sit beside it, so no field is required here; a part that is
# null is not there.
Constraint = Annotated[dict[str, Any], WithJsonSchema({
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {
        "box": {"anyOf": [{"type": "object", "additionalProperties": False,
                           "properties": {"lower": _NUMBERS, "upper": _NUMBERS}}, {"type": "null"}]},
        "ball": {"anyOf": [{"type": "object", "additionalProperties": False,
                            "properties": {"norm": {"enum": ["2", "inf"]}, "center": _NUMBERS,
                                           "radius": {"type": "number", "exclusiveMinimum": 0}}},
                           {"type": "null"}]},
    },
})]


class SessionCreate(Strict):
    """A create's body: the core's ``SessionConfig`` (its defaults too) with the bounds the wire sets."""

    dim: Whole = Field(ge=1, le=SAFE_INT, description="Number of parameters d (at most ZOADAMM_MAX_DIM).")
    method: Annotated[str, OneOf(METHODS)] = Field(
        Core.method, description="adamm takes exact gradients; every zo-* method takes function values "
                                "(docs/constraints.md, \"The methods\").")
    lr: Rate = Core.lr
    mu: Radius = Field(Core.mu, description="Smoothing radius: the client evaluates f(x + mu u).")
    beta1: Decay = Core.beta1
    beta2: Decay = Core.beta2
    eps: float = Field(Core.eps, ge=EPS[0], le=EPS[1], allow_inf_nan=False)
    normalizer: Annotated[str, OneOf(NORMALIZERS)] = Field(
        Core.normalizer, description="v reproduces the paper's code (divides by sqrt(v)).")
    directions: Whole = Field(Core.directions, ge=1, le=SAFE_INT, description="q: directions per step (Eq. 2; at most "
                                                                "ZOADAMM_MAX_DIRECTIONS).")
    distribution: Annotated[str, OneOf(DISTRIBUTIONS)] = Core.distribution
    difference: Annotated[str, OneOf(DIFFERENCES)] = Core.difference
    seed: Index | None = Field(None,
        description="Directions derive from (seed, step, index); random when omitted.  At most 2^53 - 1, "
                    "so that every JSON client reads it back exactly.")
    schedule: Schedule | None = Field(default_factory=Schedule, description="null disables the schedule.")
    constraint: Constraint | None = Field(
        None, description='The feasible set X, fixed for the session: {"box": {"lower", "upper"}}, {"ball": '
                          '{"norm": "2" | "inf", "center", "radius"}}, or both (their intersection); bounds and '
                          "center are numbers or d-vectors, a vector also beside the constraint (the three "
                          "fields named constraint.box.lower ... here, or vectors of those names in a binary "
                          "frame).  Probes x + mu u may leave X (docs/constraints.md).  null: no constraint.")
    name: Annotated[str, Field(max_length=200), AfterValidator(_one_line)] | None = None
    x0: Values | None = Field(None, description="Initial parameters; otherwise the first ask's x.")
    # read by codec, like x0, and listed here for the docs: the constraint's vectors beside it
    box_lower: Values | None = Field(None, alias="constraint.box.lower",
                                     description="constraint.box.lower as a d-vector, when not in the constraint.")
    box_upper: Values | None = Field(None, alias="constraint.box.upper",
                                     description="constraint.box.upper as a d-vector, when not in the constraint.")
    ball_center: Values | None = Field(None, alias="constraint.ball.center",
                                       description="constraint.ball.center as a d-vector, when not in the constraint.")

    def config(self) -> dict:
        config = self.model_dump(exclude={"name", "x0", "constraint", "box_lower", "box_upper", "ball_center"})
        config["constraint"] = self.constraint  # as parsed: the core checks it (a dump would deep-copy its vectors)
        return config


def _with_lease(value: Any, info: ValidationInfo) -> Any:
    """worker, wait, since and until say how to lease: without ``lease`` nothing would read them,
    so a body that sends them alone is refused rather than half obeyed."""
    given = value != 0 if info.field_name == "wait" else value is not None  # wait's default is 0
    if given and "lease" in info.data and info.data["lease"] is None:
        raise ValueError(f"{info.field_name} goes with lease, and this body asks for no lease")
    return value


class AskRequest(Strict):
    x: Values | None = Field(None, description="Current parameters: set before step 0, checked after.")
    lease: Count | None = Field(None, description="Lease up to this many directions of the open step.")
    worker: WorkerName | None = Field(
        None, description="The leasing worker's name (with lease): asking again returns its lease.")
    wait: float = Field(0.0, ge=0, le=MAX_WAIT_S,
                        description="With lease: seconds to wait when nothing can be leased now.")
    since: Step | None = Field(
        None, description="With lease: the step your x is at; the answer lists the steps closed since.")
    until: Step | None = Field(None, description="With lease: lease nothing on this step or later.")

    checked_with_lease = field_validator("worker", "wait", "since", "until")(_with_lease)


def _given(name: str, kind: str) -> dict:
    """JSON Schema: ``name`` is there and not null."""
    return {"required": [name], "properties": {name: {"type": kind}}}


# worker, a wait, since and until say how to lease: not without a lease (``_with_lease``)
_NO_LEASE_FIELDS = {"worker": {"type": "null"}, "since": {"type": "null"}, "until": {"type": "null"},
                    "wait": {"anyOf": [{"type": "number", "maximum": 0}, {"type": "null"}]}}

# What an ask's and a tell's bodies need beyond their fields' own types, stated beside the body's
# $ref in the OpenAPI description (``openapi``): client generators build the model from the $ref alone.
ASK_RULES: dict[str, Any] = {"if": _given("lease", "integer"), "else": {"properties": _NO_LEASE_FIELDS}}
TELL_RULES: dict[str, Any] = {
    # ZO sessions tell f_plus, FO sessions a gradient; which one, the session's method decides
    "anyOf": [{"title": title, **_given(name, "array")}
              for title, name in (("ZO: function values", "f_plus"), ("FO: a gradient", "gradient"))],
    "allOf": [
        # a gradient comes alone: no function values beside it, and it is the whole step (no indices)
        {"if": _given("gradient", "array"),
         "then": {"properties": {name: {"type": "null"} for name in ("f_x", "f_plus", "f_minus", "indices")}}},
        # leases are of directions (the zo-* methods) and need a holder
        {"if": _given("lease", "integer"),
         "then": {"required": ["worker", "f_plus"], "properties": {"worker": {"type": "string"},
                                                                   "f_plus": {"type": "array"}}},
         "else": {"properties": _NO_LEASE_FIELDS}},
    ],
}


class TellRequest(Strict):
    step: Whole = Field(ge=0, le=SAFE_INT, description="The step these values belong to (from ask or the last tell).")
    f_x: Finite | Values | None = Field(None, description="f(x); one value, or one per reported direction.")
    f_plus: Values | None = Field(None, description="f(x + mu u_i) for each direction (ZO).")
    f_minus: Values | None = Field(None, description="f(x - mu u_i) (ZO, central difference).")
    indices: Annotated[list[Index], Field(fail_fast=True)] | None = Field(
        None, description="Directions this report covers, when workers split a step.")
    gradient: Values | None = Field(None, description="Exact gradient (adamm sessions).")
    lease: Count | None = Field(
        None, description="Also lease up to this many directions of the next step (zo-* methods, answer=checksum): "
                          "the answer waits for the told step to close.")
    worker: WorkerName | None = Field(None, description="The leasing worker's name (required with lease).")
    wait: float = Field(0.0, ge=0, le=MAX_WAIT_S, description="With lease: seconds to wait for the told step to close.")
    until: Step | None = Field(None, description="With lease: lease nothing on this step or later.")

    checked_with_lease = field_validator("worker", "wait", "until")(_with_lease)


class MetricsRequest(Strict):
    value: Finite = Field(description="Validation loss; drives the plateau schedule.")
    metrics: dict[MetricName, Finite] = Field(default_factory=dict, description="Other named numbers to keep.")
