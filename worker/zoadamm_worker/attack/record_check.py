"""What a per-image record of `attack --records` must hold to be counted: read back by
`attack-report` and by a run that continues, a record edited by hand or cut by a fault must be
refused by name, not counted ("false" as a success) or end in a traceback."""

from __future__ import annotations

import math

_WORDS = {"success": "true or false", "queries": "a whole number from 0 to its budget",
          "linf": "a finite distance >= 0", "l2": "a finite distance >= 0",
          "eps": "a finite radius > 0", "budget": "a whole number >= 1",
          "method": "a method's name", "norm": "a norm's name"}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def record_flaw(row: dict) -> str | None:
    """What is wrong with one record's fields (None: nothing), in words naming the field."""
    budget = row["budget"] if _whole(row.get("budget")) else 0  # none: no query count fits
    fine = {
        "method": isinstance(row.get("method"), str), "norm": isinstance(row.get("norm"), str),
        "eps": _real(row.get("eps")) and row["eps"] > 0, "budget": budget >= 1,
        "success": isinstance(row.get("success"), bool),
        "queries": _whole(row.get("queries")) and 0 <= row["queries"] <= budget,
        "linf": _real(row.get("linf")) and row["linf"] >= 0, "l2": _real(row.get("l2")) and row["l2"] >= 0,
    }
    wrong = [name for name, ok in fine.items() if not ok]
    if not wrong:
        return None
    return "; ".join(f"{name} must be {_WORDS[name]}, not {row.get(name)!r}" for name in wrong)
