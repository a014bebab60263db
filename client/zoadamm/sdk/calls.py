"""Each API call as (request description, answer parser): the one definition that the sync and
the async client both send."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import MISSING

import numpy as np

from .. import wire
from .._validate import InvalidArgument, finite_values, numbers, one_axis, shown
from ..constraints import Ball, Box, FeasibleSet
from ..optimizer import CONFIG_VECTORS, SessionConfig
from ._http import Call
from .models import ClosedStep, Parameters, Session, SessionSummary, StepInfo, TellResult, Trace
from .settings import SessionSettings, Unpack, check_names

Parsed = tuple[Call, Callable[[dict, dict], object]]
_SESSION_FIELDS = set(Session.__dataclass_fields__)


_SESSION_ID = re.compile(r"[0-9a-f]{32}")


def _id(session_id: str) -> str:
    """A session id as a path segment: the 32 lowercase hex digits a create answers, checked here,
    so that no other text (a slash, "..", a query) can make the call another one."""
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise InvalidArgument(f"a session id is 32 lowercase hex digits (as create answers it), "
                              f"got {shown(session_id)}")
    return session_id


def plain(value):
    """A setting as the service's JSON has it: numpy's scalars as Python's numbers
    (``rng.integers(100)`` as a seed), dataclasses as dicts, inside dicts too (a schedule); a
    feasible set as its JSON part (its vectors travel apart)."""
    if isinstance(value, FeasibleSet):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value.item() if isinstance(value, np.generic) else value


def _session(fields: dict, vectors: dict) -> Session:
    kept = {k: v for k, v in vectors.items() if k in CONFIG_VECTORS}
    return Session(**{k: v for k, v in fields.items() if k in _SESSION_FIELDS}, vectors=kept)


def feasible_set(constraint) -> FeasibleSet:
    """The set a call gives (a ``FeasibleSet``, its dict, or a ``Box`` or ``Ball`` alone, which
    is the set of that part) as a ``FeasibleSet``."""
    if isinstance(constraint, Box):
        return FeasibleSet(box=constraint)
    if isinstance(constraint, Ball):
        return FeasibleSet(ball=constraint)
    if isinstance(constraint, FeasibleSet):
        return constraint
    if not isinstance(constraint, dict):  # the dict's own check says "object", JSON's word
        raise InvalidArgument(f"constraint must be a zoadamm.Ball, Box or FeasibleSet, or the dict of one (as in "
                              f"zoadamm.Ball(norm=\"2\", center=0.0, radius=1.0)), got {shown(constraint)}")
    return FeasibleSet.from_dict(constraint)


def create(dim: int, *, x0=None, name: str | None = None, **config: Unpack[SessionSettings]) -> Parsed:
    """``config["constraint"]``: a ``FeasibleSet``, its dict, or a ``Box`` or ``Ball`` alone;
    checked here, and its vectors sent as vectors ("constraint.box.lower", ...), the same float32
    the set holds."""
    check_names(config)
    constraint = config.pop("constraint", None)
    fields = {"dim": plain(dim), "name": name, **{k: plain(v) for k, v in config.items() if v is not None}}
    if "schedule" in config:  # None is meaningful here: it disables the schedule
        fields["schedule"] = plain(config["schedule"])
    vectors = {}
    if constraint is not None:
        constraint = feasible_set(constraint)
        fields["constraint"] = constraint.to_dict()
        vectors.update({"constraint." + field: v for field, v in constraint.vectors().items()})
    if x0 is not None:
        with np.errstate(over="ignore"):  # a value past float32 becomes inf, refused as the service refuses it
            vectors["x0"] = numbers("x0", x0, np.float32)
        if vectors["x0"].ndim != 1:
            raise InvalidArgument(f"x0 must be a 1-D vector, got shape {vectors['x0'].shape}")
    _check_locally(fields, constraint, vectors.get("x0"))
    return Call("POST", "/v1/sessions", fields, vectors), _session


def _check_locally(fields: dict, constraint: FeasibleSet | None, x0: np.ndarray | None) -> None:
    """What the core refuses (the service's own checks) refused here, before any request: a bad
    setting is an InvalidArgument (a ValueError) whether or not a service answers.  The schedule
    and the service's own limits (largest d and q) are left to the service.

    Raises:
        InvalidArgument: naming the setting.
    """
    core = {name: _whole(value) if name in ("dim", "directions", "seed") else value
            for name, value in fields.items() if name in _CORE_SETTINGS and value is not None}
    if not isinstance(core.get("dim"), int) or isinstance(core.get("dim"), bool):
        return  # a dim of another type: the service names it
    seed = core.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool) and not 0 <= seed <= wire.SAFE_INT:
        # the service's range, not the core's [0, 2**64): JSON carries integers exactly up to 2^53 - 1
        raise InvalidArgument(f"seed must be an integer in [0, 2^53 - 1 = {wire.SAFE_INT}], got {seed}")
    config = SessionConfig(**core, schedule=None, constraint=constraint)
    if x0 is not None:
        if x0.size != config.dim:
            raise InvalidArgument(f"x0 has {x0.size} values; dim is {config.dim}")
        if not np.isfinite(x0).all():  # the service's words: 1e39 is finite, but not in float32
            raise InvalidArgument("x0 contains NaN, infinite or float32-overflowing values")
        if constraint is not None:
            constraint.admit(x0.copy())  # refused as the service refuses it (moved within rounding there)


def _whole(value):
    """7.0 as 7: the service reads a whole JSON number as the integer (docs/api.md)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


_CORE_SETTINGS = frozenset(f.name for f in dataclasses.fields(SessionConfig)) - {"schedule", "constraint"}


def get(session_id: str) -> Parsed:
    return Call("GET", f"/v1/sessions/{_id(session_id)}"), _session


def list_sessions(offset: int = 0, limit: int = 100) -> Parsed:
    def parse(fields, _):
        return [SessionSummary(s["id"], s["name"], s["created"], s["config"]) for s in fields["sessions"]]

    return Call("GET", "/v1/sessions", params={"offset": offset, "limit": limit}), parse


def delete(session_id: str) -> Parsed:
    return Call("DELETE", f"/v1/sessions/{_id(session_id)}"), lambda f, v: None


def ask(session_id: str, x=None, vectors: bool = False, *, lease: int | None = None, worker: str | None = None,
        wait: float | None = None, since: int | None = None, until: int | None = None) -> Parsed:
    """The open step; ``lease`` (with ``worker``, ``wait``, ``since``, ``until``): see ``Sessions.ask``."""
    def parse(fields, vecs):
        u = vecs.get("u")
        if u is not None:
            u = u.reshape(fields["directions"], -1)
        known = {k: fields[k] if required else fields.get(k) for k, required in _ASK_FIELDS}
        return StepInfo(**known, u=u, steps=_closed_steps(fields))

    vecs = {} if x is None else {"x": numbers("x", x, np.float32).reshape(-1)}
    params = {"vectors": "true"} if vectors else None
    fields = {"lease": lease, "worker": worker, "wait": wait, "since": since, "until": until}
    body = {k: v for k, v in fields.items() if v is not None}
    return Call("POST", f"/v1/sessions/{_id(session_id)}/ask", body, vecs, params), parse


def _answer_fields(model, read_apart: tuple[str, ...]) -> tuple[tuple[str, bool], ...]:
    """(name, required) of ``model``'s fields but ``read_apart``: a field without a default is in
    every answer (a KeyError for JSON without it, which the client says is no zoadamm answer)."""
    return tuple((f.name, f.default is MISSING and f.default_factory is MISSING)
                 for f in dataclasses.fields(model) if f.name not in read_apart)


_ASK_FIELDS = _answer_fields(StepInfo, ("u", "steps"))
_TELL_FIELDS = _answer_fields(TellResult, ("x", "coefficients", "steps"))


def _closed_steps(fields: dict) -> list[ClosedStep] | None:
    steps = fields.get("steps")
    if steps is None:
        return None
    return [ClosedStep(s["step"], s["lr"], s["checksum"], np.asarray(s["coefficients"], np.float32)) for s in steps]


def tell(
    session_id: str, step: int, *, f_x=None, f_plus=None, f_minus=None, indices=None,
    gradient=None, answer: str = "x", lease: int | None = None, worker: str | None = None,
    wait: float | None = None, until: int | None = None, copied: bool = False,
) -> Parsed:
    """The values of one step; the lease fields: see ``Sessions.tell``.  ``copied``: the call
    holds a gradient of its own (function values become lists anyway), for a call sent after
    the caller may have refilled its arrays."""
    if (gradient is None) == (f_plus is None):
        raise InvalidArgument("tell takes either f_plus (the zo-* methods) or gradient (adamm)")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise InvalidArgument(f"step must be a whole number >= 0 (the open step), got {shown(step)}")
    fields: dict = {"step": int(step)}
    vecs = {}
    if gradient is not None:
        if f_x is not None or f_minus is not None or indices is not None:  # as the service refuses them
            raise InvalidArgument("a gradient tell is the whole step: f_x, f_minus and indices belong to "
                                  "the zo-* methods' tells")
        vecs["gradient"] = numbers("gradient", gradient, np.float32).reshape(-1)
        if copied:
            vecs["gradient"] = vecs["gradient"].copy()
    else:
        fields["f_plus"] = one_axis("f_plus", _finite("f_plus", f_plus)).tolist()
        fields["f_x"] = None if f_x is None else _f_x(_finite("f_x", f_x), len(fields["f_plus"])).tolist()
        if f_minus is not None:
            fields["f_minus"] = one_axis("f_minus", _finite("f_minus", f_minus)).tolist()
        if indices is not None:
            fields["indices"] = [_index(i) for i in indices]
    leasing = {"lease": lease, "worker": worker, "wait": wait, "until": until}
    fields.update({k: v for k, v in leasing.items() if v is not None})

    def parse(fields, vecs):
        c = fields.get("coefficients")
        known = {k: fields[k] if required else fields.get(k) for k, required in _TELL_FIELDS}
        return TellResult(**known, x=vecs.get("x"), coefficients=None if c is None else np.asarray(c, np.float32),
                          steps=_closed_steps(fields))

    return Call("POST", f"/v1/sessions/{_id(session_id)}/tell", fields, vecs, {"answer": answer}), parse


def _f_x(f_x: np.ndarray, reported: int) -> np.ndarray:
    """``f_x`` if it is one value, or a flat list of one or of one per reported value."""
    if f_x.ndim > 1 or f_x.size not in (1, reported):
        lists = "1" if reported == 1 else f"1 or of {reported} values (one per value of f_plus)"
        raise InvalidArgument(f"f_x must be a number, or a list of {lists}; got shape {f_x.shape}")
    return f_x


def _index(index) -> int:
    """A direction's index as sent: int(1.5) would have reported direction 1."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise InvalidArgument(f"indices must be whole numbers >= 0 (directions of the step), got {shown(index)}")
    return int(index)


def _finite(name: str, values) -> np.ndarray:
    """``values`` as float64; raises InvalidArgument naming ``name`` for a NaN or an infinity,
    which neither JSON nor the service takes."""
    return finite_values(name, numbers(name, values))


def _one(name: str, value) -> float:
    """One finite number (a list of two was a bare TypeError of numpy's)."""
    held = _finite(name, value)
    if held.size != 1:
        raise InvalidArgument(f"{name} must be one number, got {held.size} values")
    return float(held.reshape(-1)[0])


def report(session_id: str, value: float, **metrics: float) -> Parsed:
    fields = {"value": _one("value", value), "metrics": {k: _one(f"metrics[{k!r}]", v) for k, v in metrics.items()}}
    # the schedule counts every report: the call's Idempotency-Key keeps a retry from counting twice
    return Call("POST", f"/v1/sessions/{_id(session_id)}/metrics", fields), _report


def _report(fields: dict, vectors: dict) -> dict:
    """The report as the service keeps it; its step, lr and mu are in every answer."""
    missing = [name for name in ("step", "lr", "mu") if name not in fields]
    if missing:  # the client says JSON of another shape is no zoadamm answer
        raise KeyError(missing[0])
    return fields


def history_page(session_id: str, last: int | None = None, cursor: int | None = None) -> Parsed:
    """One page of the metric history: (reports, the next page's cursor or None)."""
    params = {"cursor": cursor} if cursor is not None else {} if last is None else {"last": last}
    return (Call("GET", f"/v1/sessions/{_id(session_id)}/metrics", params=params or None),
            lambda f, v: (f["items"], f["next_cursor"]))


def parameters(session_id: str) -> Parsed:
    return Call("GET", f"/v1/sessions/{_id(session_id)}/x"), lambda f, v: Parameters(f["step"], v["x"])


def trace(session_id: str, since: int = 0, tail: int | None = None) -> Parsed:
    params: dict = {"since": int(since)}
    if tail is not None:
        params["tail"] = int(tail)

    def parse(fields, vecs):
        def column(name):  # float32 vectors in the frame; JSON lists with null for NaN
            if name in vecs:
                return np.array(vecs[name], dtype=np.float32)
            return np.array([np.nan if v is None else v for v in fields[name]], dtype=np.float32)

        f, g_norm, spread, lr, mu = (column(n) for n in ("f", "g_norm", "spread", "lr", "mu"))
        return Trace(
            fields["stride"], np.asarray(fields["step"], dtype=np.int64), np.asarray(fields["time"], dtype=np.float64),
            f, g_norm, spread, lr, mu, last=fields.get("last"), since=fields.get("since", 0),
        )

    return Call("GET", f"/v1/sessions/{_id(session_id)}/trace", params=params), parse
