"""A query parameter that a call does not take is refused (422), as an unknown body field is: a
typo (``?answr=checksum``) went unseen, and the call answered as if it had not been sent.  One
sent twice is refused too: which one was meant is not ours to guess."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import Request

from ..errors import Invalid


def checked(pairs: Iterable[tuple[str, str]], taken: frozenset[str]) -> dict[str, str]:
    """The query's values by name.  Raises Invalid for a name not in ``taken``, or given twice."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in taken:
            raise Invalid(f"unknown query parameter {name!r}; this call takes {', '.join(sorted(taken)) or 'none'}")
        if name in values:
            raise Invalid(f"query parameter {name!r} is given twice")
        values[name] = value
    return values


async def known_query(request: Request) -> None:
    """A dependency of every API router: the query names only what the route takes."""
    if request.scope["query_string"]:
        checked(request.query_params.multi_items(), _taken(request.scope["route"]))


_TAKEN: dict[int, frozenset[str]] = {}  # by route, made on its first call with a query


def _taken(route) -> frozenset[str]:
    """The route's query parameters: its endpoint's and its dependencies', and those a lean
    endpoint reads itself and declares in ``openapi_extra``."""
    taken = _TAKEN.get(id(route))
    if taken is None:
        declared = (route.openapi_extra or {}).get("parameters", ())
        taken = _TAKEN[id(route)] = frozenset(
            _names(route.dependant) + [p["name"] for p in declared if p.get("in") == "query"])
    return taken


def _names(dependant) -> list[str]:
    return [p.alias for p in dependant.query_params] + [n for d in dependant.dependencies for n in _names(d)]
