"""Which session a run of ``minimize`` continues: the tenant's newest one of that name whose d
and settings are the ones given (``resume=True``), or the one named by id, checked the same way.
List rows carry a feasible set's JSON part only, so a set with vectors is compared on the
session itself."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..constraints import FeasibleSet
from .calls import plain
from .client import Client
from .models import SessionSummary

log = logging.getLogger("zoadamm")
PAGE = 1000  # the most sessions one list call returns


def find_session(client: Client, name: str | None, dim: int, config: Mapping[str, Any]) -> SessionSummary | None:
    """The tenant's newest session named ``name`` of dimension ``dim`` whose settings include
    ``config``; None when there is none (a WARNING names the difference when sessions of that
    name exist with other settings).

    Raises:
        zoadamm.sdk.APIError: the service failed.
    """
    named: list[SessionSummary] = []
    offset, full = 0, True
    while full:
        page = client.sessions.list(offset=offset, limit=PAGE)
        named += [s for s in page if s.name == name]
        offset, full = offset + len(page), len(page) == PAGE
    same = sorted((s for s in named if not settings_differ(s.config, dim, config, with_set=True)),
                  key=lambda s: -s.created)
    for summary in same:
        if same_set(client, summary.id, config):
            return summary
    if same:
        log.warning("no session named %r has this constraint's vectors; starting a new one", name)
    elif named:
        newest = max(named, key=lambda s: s.created)
        log.warning("no session named %r has these settings (the newest, %s, has %s); starting a new one",
                    name, newest.id, ", ".join(settings_differ(newest.config, dim, config, with_set=True)))
    return None


def settings_differ(session_config: dict, dim: int, config: Mapping[str, Any], *, with_set: bool = False) -> list[str]:
    """What the session has where ``config`` (the settings a call gives) or ``dim`` asks otherwise;
    ``with_set``: the feasible set counts even when not given (none given: R^d), since a run
    by name that gives none is another problem than one in a box."""
    wanted = {"dim": dim, **{k: plain(v) for k, v in config.items() if v is not None or k == "schedule"}}
    if with_set:
        wanted["constraint"] = plain(config.get("constraint"))
    return [f"{k}={session_config.get(k)!r} (not {v!r})" for k, v in wanted.items()
            if not agrees(session_config.get(k), v)]


def agrees(have, want) -> bool:
    """A setting given in part (a schedule dict with one field) agrees with the whole one it got."""
    if isinstance(have, dict) and isinstance(want, dict):
        return all(have.get(k) == v for k, v in want.items())
    return bool(have == want)


def same_set(client: Client, session_id: str, config: Mapping[str, Any]) -> bool:
    """Whether the session's feasible set is the one ``config`` asks for, vectors included: list
    rows carry a set's JSON part only, so a set with vectors is compared on the whole session."""
    wanted = config.get("constraint")
    if isinstance(wanted, dict):
        wanted = FeasibleSet.from_dict(wanted)
    if not isinstance(wanted, FeasibleSet) or not wanted.vectors():
        return True
    return client.sessions.get(session_id).session_config().constraint == wanted
