"""Which session a run of ``minimize`` continues: the tenant's newest one of that name whose d,
settings and feasible set are the ones given (``resume=True``), or the one named by id, checked
the same way; and the call that continues a run, or starts it over.

A feasible set is compared as the set X it is in d dimensions: a bound or center given as a
number is the d-vector of it, so ``bounds=(0, 1)`` and ``bounds=[(0, 1)] * d`` are one box, but
a box is never the same as that box cut by a ball.  List rows carry a set's JSON part only (its
numbers, not its vectors), so a set with vectors is compared on the session itself."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._validate import F32_MAX, InvalidArgument
from ..constraints import FeasibleSet
from .calls import feasible_set, plain
from .client import Client
from .models import Session, SessionSummary

log = logging.getLogger("zoadamm")
PAGE = 1000  # the most sessions one list call returns
_FIELDS = {"box": ("lower", "upper"), "ball": ("norm", "center", "radius")}
_VECTORS = {("box", "lower"), ("box", "upper"), ("ball", "center")}  # the fields that may be d-vectors


def find_session(client: Client, name: str | None, dim: int, config: Mapping[str, Any]) -> SessionSummary | None:
    """The tenant's newest session named ``name`` of dimension ``dim`` whose settings include
    ``config`` and whose feasible set is ``config``'s (none given: none); None when there is
    none (a WARNING names the difference when sessions of that name exist with other settings).

    Raises:
        zoadamm.sdk.APIError: the service failed.
    """
    named: list[SessionSummary] = []
    offset, full = 0, True
    while full:
        page = client.sessions.list(offset=offset, limit=PAGE)
        named += [s for s in page if s.name == name]
        offset, full = offset + len(page), len(page) == PAGE
    same = sorted((s for s in named if not settings_differ(s, dim, config)), key=lambda s: -s.created)
    fetched = []  # those of ``same`` whose set has vectors, as the sessions themselves, newest first
    for summary in same:
        if not _has_vectors(summary):  # the row had the whole set: it agrees
            return summary
        fetched.append(client.sessions.get(summary.id))
        if not settings_differ(fetched[-1], dim, config):
            return summary
    newest: SessionSummary
    if fetched:  # the settings agree, the sets' vectors do not
        newest, which = fetched[0], "the newest with these settings"
    elif named:
        newest, which = max(named, key=lambda s: s.created), "the newest"
        if _has_vectors(newest):  # its set is shown whole, not as a row's JSON part
            newest = client.sessions.get(newest.id)
    else:  # said, so that a run meant to continue (after its service lost its store) is seen to start over
        log.warning("no session named %r to continue: starting a new one from x0", name)
        return None
    log.warning("no session named %r has these settings (%s, %s, has %s); starting a new one",
                name, which, newest.id, ", ".join(settings_differ(newest, dim, config)))
    return None


def check_session(session: Session, dim: int, config: Mapping[str, Any]) -> None:
    """Raises InvalidArgument when ``session``, to be continued by its id, has another d, other
    settings than ``config``'s, or another feasible set (none given: none)."""
    differences = settings_differ(session, dim, config)
    if differences:
        raise InvalidArgument(f"session {session.id} has {', '.join(differences)}; continue it with its "
                              "own settings, or leave session_id out to start a new run")


def settings_differ(session: SessionSummary, dim: int, config: Mapping[str, Any]) -> list[str]:
    """What ``session`` has where ``config`` (the settings a call gives) or ``dim`` asks
    otherwise.  The feasible set counts even when not given (R^d): a run that gives none is
    another problem than one in a box.  Of a list row, a set's vectors are unknown and pass."""
    wanted = {"dim": dim, **{k: plain(v) for k, v in config.items()
                             if k != "constraint" and (v is not None or k == "schedule")}}
    differences = [f"{k}={session.config.get(k)!r} (not {v!r})" for k, v in wanted.items()
                   if not agrees(session.config.get(k), v)]
    if session.config.get("dim") == dim:  # sets of another d differ, which "dim=" says already
        have, want = held_set(session), given_set(config.get("constraint"))
        if _same(have, want, dim) is False:
            shown = (describe(have, dim), describe(want, dim))
            differences.append("a constraint with other vectors" if shown[0] == shown[1]
                               else f"constraint={shown[0]} (not {shown[1]})")
    return differences


def agrees(have, want) -> bool:
    """A setting given in part (a schedule dict with one field) agrees with the whole one it got."""
    if isinstance(have, dict) and isinstance(want, dict):
        return all(have.get(k) == v for k, v in want.items())
    return bool(have == want)


def held_set(session: SessionSummary) -> dict | None:
    """The session's feasible set as its JSON shape, vectors inline where known: a ``Session``
    has them, a list row does not (those fields are then missing)."""
    data = session.config.get("constraint")
    if data is None:
        return None
    vectors = session.vectors if isinstance(session, Session) else {}
    return {part: {**fields, **{f: vectors[f"constraint.{part}.{f}"] for f in _FIELDS[part]
                                if f"constraint.{part}.{f}" in vectors}}
            for part, fields in data.items()}


def given_set(constraint) -> dict | None:
    """The set a call gives (a ``FeasibleSet``, its dict, a ``Box`` or ``Ball`` alone, or None)
    as its JSON shape with its vectors inline, held as the session holds it (float32)."""
    return None if constraint is None else feasible_set(constraint).to_dict(inline=True)


def _same(have: dict | None, want: dict | None, dim: int) -> bool | None:
    """Whether two sets are one X in ``dim`` dimensions; None when only a field missing from
    ``have`` (a list row's vector) could still tell them apart."""
    if have is None or want is None:
        return have is None and want is None
    if not _lacks_fields(have):  # known in full: the X each makes (an l-inf ball alone is a box)
        return _one_x(FeasibleSet.from_dict(have), FeasibleSet.from_dict(want), dim)
    if set(have) != set(want):
        return None  # a box, and an l-inf ball whose center is a vector the row lacks, may be one X
    unknown = False
    for part, names in _FIELDS.items():
        for name in names if part in have else ():
            mine, theirs = have[part].get(name), want[part].get(name)
            if mine is None or theirs is None:
                unknown = True
            elif (part, name) in _VECTORS:
                if not np.array_equal(_spelled(mine, dim), _spelled(theirs, dim)):
                    return False
            elif mine != theirs:  # the norm, the radius
                return False
    return None if unknown else True


def _one_x(have: FeasibleSet, want: FeasibleSet, dim: int) -> bool:
    """Whether the two sets are one X, as the projection sees it: the same bounds (a box cut by an
    l-inf ball) and the same l2 ball, or none; the projection then makes the same bits."""
    pairs = zip(have.bounds, want.bounds, strict=True)
    if not all(np.array_equal(_spelled(a, dim), _spelled(b, dim)) for a, b in pairs):
        return False
    if have.sphere is None or want.sphere is None:
        return have.sphere is None and want.sphere is None
    return have.sphere[1] == want.sphere[1] and np.array_equal(_spelled(have.sphere[0], dim),
                                                               _spelled(want.sphere[0], dim))


def _lacks_fields(data: dict) -> bool:
    """Whether a set's JSON shape lacks fields: a list row's vectors, which only the session has."""
    return any(name not in fields for part, fields in data.items() for name in _FIELDS.get(part, ()))


def _spelled(value, dim: int) -> np.ndarray:
    """A bound or center as the float32 d-vector it means (a number: that number d times)."""
    held = np.asarray(value, dtype=np.float32).reshape(-1)
    return np.broadcast_to(held, (dim,)) if held.size in (1, dim) else held


def _has_vectors(summary: SessionSummary) -> bool:
    """Whether a list row's set lacks fields: vectors, which only the session has."""
    return _lacks_fields(summary.config.get("constraint") or {})


def describe(data: dict | None, dim: int) -> str:
    """A set in words, as a user would spell it: "box [0, 1]", "l2 ball of radius 0.5 about 0",
    both joined by "∩"; at d = 4, a vector whose values differ is "(4 values)", and a box of two
    such is "a box of 4-vectors"; no set is "none"."""
    if data is None:
        return "none"
    words = []
    if (box := data.get("box")) is not None:
        lower, upper = (_number(box.get(side), dim) for side in ("lower", "upper"))
        vector = f"({dim} values)"
        words.append(f"a box of {dim}-vectors" if lower == upper == vector else f"box [{lower}, {upper}]")
    if (ball := data.get("ball")) is not None:
        norm = "l2" if ball.get("norm") == "2" else "l-inf"
        words.append(f"{norm} ball of radius {ball['radius']:.6g} about {_number(ball.get('center'), dim)}")
    return " ∩ ".join(words)


def _number(value, dim: int) -> str:
    """A bound or center in words: its one value (a bound at float32's end, which is what "no
    bound" is held as, as -inf or inf), or "(d values)" (a row's vector is missing: None)."""
    values = set() if value is None else set(np.asarray(value, dtype=np.float32).reshape(-1).tolist())
    if len(values) != 1:
        return f"({dim if value is None else np.size(value)} values)"
    (number,) = values
    return "-inf" if number <= -F32_MAX else "inf" if number >= F32_MAX else f"{number:.6g}"


def call_again(given: dict, config: Mapping[str, Any], *, name: str | None, session_id: str | None,
               with_client: bool, bounds: bool, callback: bool = False) -> str:
    """The ``minimize`` call that continues a run: the arguments ``given``, the run's name with
    resume=True when it has one (else ``session_id``), and its settings ``config``; with
    ``session_id`` None, the call that starts the run over (its name, if any, without resume).
    Like f and x0, the client, the callback, the bounds given, or a set with d-vectors, are named
    rather than written out."""
    which: dict[str, Any] = {"name": name} if name else {}
    if session_id is not None:
        which = {"name": name, "resume": True} if name else {"session_id": session_id}
    again = {**given, **which, **config}
    words = ["f", "x0", *(["client=client"] if with_client else []), *(["callback=callback"] if callback else [])]
    for key, value in again.items():
        if key == "constraint" and bounds:
            words.append("bounds=bounds")
        elif key == "constraint" and isinstance(value, FeasibleSet) and value.vectors():
            words.append("constraint=constraint")
        else:
            words.append(f"{key}={plain(value)!r}")
    return f"minimize({', '.join(words)})"
