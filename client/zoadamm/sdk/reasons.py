"""What a 422 says in words: each field the service refused and why (``lr: Input should be
greater than 0``), and, for a setting it does not know, the one that was probably meant."""

from __future__ import annotations

import difflib
from dataclasses import fields

from ..optimizer import SessionConfig
from ..schedule import PlateauConfig

# The settings a new session takes, by where they sit in the request (the top level, or the
# schedule): the names an unknown one is matched against.
SETTINGS = {
    (): [f.name for f in fields(SessionConfig)] + ["name", "x0"],
    ("schedule",): [f.name for f in fields(PlateauConfig)],
}
# What other optimizers and the paper's prose call some of them: too far from ours to look close.
OTHER_NAMES = {
    "learning_rate": "lr", "step_size": "lr", "smoothing": "mu", "smoothing_radius": "mu", "radius": "mu",
    "q": "directions", "num_directions": "directions", "n_directions": "directions", "epsilon": "eps",
    "dimension": "dim", "d": "dim", "x_0": "x0", "initial": "x0", "bounds": "constraint", "constraints": "constraint",
    "maxiter": "steps", "max_iter": "steps", "iterations": "steps", "n_steps": "steps",  # minimize's, as scipy's
}


def reasons(errors: list, creating: bool) -> str:
    """``field: reason`` for each of pydantic's errors (``loc``, ``msg``, ``type``), joined by
    "; ".  ``creating``: the request made a session, so an unknown field is a setting."""
    return "; ".join(_reason(error, creating) for error in errors if isinstance(error, dict))


def _reason(error: dict, creating: bool) -> str:
    loc = [str(part) for part in error.get("loc") or () if part != "body"]
    field = ".".join(loc) or "the request"
    if error.get("type") != "extra_forbidden":
        return f"{field}: {error.get('msg') or error.get('type') or 'invalid'}"
    if not creating:
        return f"{field}: unknown field"
    meant = close_setting(loc[-1], SETTINGS.get(tuple(loc[:-1]), []))
    return f"{field}: unknown setting" + (f" (did you mean {meant}?)" if meant else "")


def close_setting(name: str, known: list[str]) -> str | None:
    """The known setting ``name`` most likely stands for, or None when none is close."""
    spelled = {other: ours for other, ours in OTHER_NAMES.items() if ours in known and other not in known}
    match = difflib.get_close_matches(name.lower(), [*known, *spelled], n=1, cutoff=0.6)
    return spelled.get(match[0], match[0]) if match else None
