"""``ZOADAMM_PROJECTION_THREADS``: how many threads the l2 ball's passes take (``projection``)."""

from __future__ import annotations

import os


def setting() -> int:
    """``ZOADAMM_PROJECTION_THREADS``, else the cores this process may use, at most 4 (the passes
    stream memory: more threads than that gain little).  1 where the other cores have other work
    of this program's (a client evaluating f while the service projects, on one machine)."""
    given = os.environ.get("ZOADAMM_PROJECTION_THREADS", "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise ValueError(f"ZOADAMM_PROJECTION_THREADS must be a whole number >= 1, not {given!r}")
        return int(given)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(4, cores)


def setting_error() -> str | None:
    """What is wrong with the setting (None: nothing), for a program to refuse at its start."""
    try:
        setting()
    except ValueError as error:
        return str(error)
    return None
