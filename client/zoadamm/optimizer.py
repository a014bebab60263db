"""One optimization session as pure state: configuration, AdaMM state, lr/mu and the schedule.

The service keeps exactly this object per session (rebuilt from its journal), a client may keep a
mirror of it, and an in-process run uses it directly.  No I/O happens here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property

import numpy as np

from ._validate import (
    InvalidArgument,
    finite_values,
    numbers,
    one_axis,
    one_of,
    positive_float,
    positive_int,
    some,
    unsigned64,
)
from .adamm import AdaMMConfig, AdaMMState
from .constraints import VECTOR_FIELDS, FeasibleSet
from .directions import DISTRIBUTIONS
from .estimators import DIFFERENCES, assemble_gradient, check_gradient_size, zo_coefficients
from .methods import AMSGRAD_METHODS, METHODS, Method, method
from .schedule import PlateauConfig, PlateauState, plateau_step

_CONSTRAINT = "constraint."  # the prefix of the constraint's vectors among a config's vectors
CONFIG_VECTORS = tuple(_CONSTRAINT + name for name in VECTOR_FIELDS)  # every vector a config may have


@dataclass(frozen=True)
class SessionConfig:
    """Everything fixed for the life of a session (lr and mu only set their starting values).

    ``constraint`` is the feasible set X (None: R^d); its vectors travel apart from the JSON
    fields: ``to_dict`` and ``vectors`` split a config, ``from_dict`` joins it again.

    Raises:
        InvalidArgument: on construction, for any value outside its documented range.
    """

    dim: int
    method: str = "zo-adamm"
    lr: float = 1e-3
    mu: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    normalizer: str = "v_hat"
    directions: int = 1
    distribution: str = "sphere"
    difference: str = "forward"
    seed: int = 0
    schedule: PlateauConfig | None = field(default_factory=PlateauConfig)
    constraint: FeasibleSet | None = None

    def __post_init__(self) -> None:
        positive_int("dim", self.dim)
        one_of("method", self.method, METHODS)
        if self.normalizer != "v_hat" and self.method not in AMSGRAD_METHODS:
            raise InvalidArgument(f"normalizer applies to {' and '.join(AMSGRAD_METHODS)} only, not {self.method}")
        if self.constraint is not None:
            if not isinstance(self.constraint, FeasibleSet):
                raise InvalidArgument(f"constraint must be a FeasibleSet or None, got {type(self.constraint).__name__}")
            self.constraint.check_dim(self.dim)
        positive_float("lr", self.lr)
        positive_float("mu", self.mu)
        positive_int("directions", self.directions)
        one_of("distribution", self.distribution, DISTRIBUTIONS)
        one_of("difference", self.difference, DIFFERENCES)
        unsigned64("seed", self.seed)
        AdaMMConfig(self.beta1, self.beta2, self.eps, self.normalizer)  # validates them

    @cached_property
    def adamm(self) -> AdaMMConfig:
        return AdaMMConfig(self.beta1, self.beta2, self.eps, self.normalizer)

    @property
    def method_spec(self) -> Method:
        """The method's update, the vectors it keeps and what its tells carry."""
        return method(self.method)

    @property
    def takes_values(self) -> bool:
        """Whether tells carry function values (every zo-* method) rather than a gradient."""
        return self.method_spec.takes == "values"

    @property
    def evaluations_per_step(self) -> int:
        """What a step costs: one gradient (adamm), or f(x) plus one (forward) or two (central)
        values per direction.  Central differences do not need f(x) for the estimate, but every
        loop evaluates it there too: it is the training loss that runs report and trace."""
        if not self.takes_values:
            return 1
        return 1 + self.directions * (2 if self.difference == "central" else 1)

    def to_dict(self, inline: bool = False) -> dict:
        """The JSON fields; the constraint's vectors are left out (``vectors``), or, with
        ``inline``, written in it as lists (as a session's view shows its config)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["schedule"] = None if self.schedule is None else asdict(self.schedule)
        data["constraint"] = None if self.constraint is None else self.constraint.to_dict(inline)
        return data

    def vectors(self) -> dict[str, np.ndarray]:
        """The float32 vectors of the config by dotted name, e.g. "constraint.box.lower"."""
        if self.constraint is None:
            return {}
        return {_CONSTRAINT + name: vector for name, vector in self.constraint.vectors().items()}

    @classmethod
    def from_dict(cls, data: dict, vectors: dict[str, np.ndarray] | None = None) -> SessionConfig:
        """The config of ``to_dict`` and ``vectors``; a dict without "constraint" (older sessions)
        has none.

        Raises:
            InvalidArgument: any check of the fields or of the constraint; a vector that is not
                the constraint's.
            TypeError: an unknown field.
        """
        data, vectors = dict(data), dict(vectors or {})
        schedule = data.get("schedule", {})
        data["schedule"] = None if schedule is None else PlateauConfig(**schedule)
        strangers = [name for name in vectors if not name.startswith(_CONSTRAINT)]
        if strangers:
            raise InvalidArgument(f"a session config has no vectors {some(sorted(strangers))}")
        constraint = data.get("constraint")
        if constraint is not None or vectors:
            inner = {name[len(_CONSTRAINT):]: vector for name, vector in vectors.items()}
            data["constraint"] = FeasibleSet.from_dict({} if constraint is None else constraint, inner)
        return cls(**data)


@dataclass(frozen=True)
class StepRecord:
    """What step ``step`` did: enough to replay it on the state it started from.

    ZO steps carry the q coefficients of ``g = sum_i c_i u_i``; FO steps carry the gradient.
    """

    step: int
    lr: float
    coefficients: np.ndarray | None = None
    gradient: np.ndarray | None = None


@dataclass
class Optimizer:
    """A session's full mutable state; ``apply`` is the only way parameters change."""

    config: SessionConfig
    state: AdaMMState
    lr: float
    mu: float
    plateau: PlateauState = field(default_factory=PlateauState)

    @classmethod
    def start(cls, config: SessionConfig, x0: np.ndarray, name: str = "x0") -> Optimizer:
        """The session's state at ``x0`` (the field ``name``), with the vectors its method keeps.
        An x0 on X's boundary as given may round to a float32 a hair outside X's float32 form:
        within float32's rounding it is moved onto X (``FeasibleSet.admit``).

        Raises:
            InvalidArgument: ``x0`` does not have ``config.dim`` finite values, or lies outside
                ``config.constraint`` (the message says by how much; ``constraint.project(x0)``
                is the nearest point inside).
        """
        x0 = numbers(name, x0, np.float32).reshape(-1)
        if x0.size != config.dim:
            raise InvalidArgument(f"x has {x0.size} values, the session has dim {config.dim}")
        state = AdaMMState.start(x0, config.method_spec.keeps)
        if config.constraint is not None:
            config.constraint.admit(state.x, name)
        return cls(config, state, config.lr, config.mu)

    @property
    def step(self) -> int:
        return self.state.step

    def zo_record(self, f_x, f_plus, f_minus=None) -> StepRecord:
        """Validate one ZO step's function values and turn them into a record (no state change).
        Raises InvalidArgument for values of another shape, not finite, or making a gradient that
        would overflow the float32 state (``estimators.check_gradient_size``)."""
        require_input(self.config, "values")
        q = self.config.directions
        plus = one_axis("f_plus", numbers("f_plus", f_plus))
        if plus.size != q:
            raise InvalidArgument(f"f_plus has {plus.size} values, the session has directions={q}")
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
            coefficients = zo_coefficients(
                f_x, plus, f_minus, mu=self.mu, dim=self.config.dim,
                distribution=self.config.distribution, difference=self.config.difference,
            ).astype(np.float32)
        check_gradient_size(coefficients, None, self.config.distribution)
        return StepRecord(self.step, self.lr, coefficients=coefficients)

    def fo_record(self, gradient) -> StepRecord:
        """Validate one exact gradient and turn it into a record (no state change)."""
        require_input(self.config, "gradient")
        g = numbers("gradient", gradient, np.float32).reshape(-1)
        if g.size != self.config.dim:
            raise InvalidArgument(f"gradient has {g.size} values, the session has dim {self.config.dim}")
        check_gradient_size(None, finite_values("gradient", g), self.config.distribution)
        return StepRecord(self.step, self.lr, gradient=g)

    def apply(
        self, record: StepRecord, work: np.ndarray | None = None, directions: np.ndarray | None = None
    ) -> None:
        """Advance one step.  ``work`` is an optional float32 d-vector reused across steps;
        ``directions`` the step's (q, d) directions, if the caller has them already."""
        if record.step != self.step:
            raise InvalidArgument(f"record for step {record.step} applied at step {self.step}")
        if work is None:
            work = np.empty(self.config.dim, dtype=np.float32)
        if record.coefficients is not None:
            assemble_gradient(
                record.coefficients, seed=self.config.seed, step=record.step,
                dim=self.config.dim, distribution=self.config.distribution, out=work,
                directions=directions,
            )
        elif record.gradient is not None:
            np.copyto(work, record.gradient)
        else:
            raise InvalidArgument(f"record for step {record.step} has neither coefficients nor a gradient")
        config = self.config
        config.method_spec.update(self.state, work, record.lr, config.adamm, config.constraint)

    def rates_after(self, value: float) -> tuple[PlateauState, float, float]:
        """The schedule state, lr and mu that reporting ``value`` would give (no state change).

        Raises:
            InvalidArgument: ``value`` is NaN or infinite.
        """
        if not math.isfinite(value):
            raise InvalidArgument(f"metric value must be finite, got {value!r}")
        if self.config.schedule is None:
            return self.plateau, self.lr, self.mu
        return plateau_step(self.config.schedule, self.plateau, value, self.lr, self.mu)

    def report(self, value: float) -> None:
        """Feed a validation value to the plateau schedule (no-op without a schedule)."""
        self.plateau, self.lr, self.mu = self.rates_after(value)


def require_input(config: SessionConfig, takes: str) -> None:
    """Raises InvalidArgument unless the session's tells carry ``takes``: "values" (the function
    values of every zo-* method) or "gradient" (adamm)."""
    if config.method_spec.takes != takes:
        sessions = [name for name in METHODS if method(name).takes == takes]
        kind = "function values (f_x, f_plus)" if takes == "values" else "a gradient"
        raise InvalidArgument(
            f"only sessions of {', '.join(sessions)} take {kind}; this session's method is {config.method!r}")


def require_method(config: SessionConfig, method_name: str) -> None:
    """Raises InvalidArgument unless the session takes what ``method_name`` sends: function
    values (any zo-* method) or a gradient (adamm)."""
    require_input(config, method(method_name).takes)
