"""Every request timed by route template, and rejected tells counted (``api.pipeline`` calls
``observe`` for each call, whatever answered it).

The template comes from the app's routes, never the raw path, so a session id never becomes a
label.
"""

from __future__ import annotations

import re

from starlette.types import Scope

from . import prom

TELL = re.compile(r"/v1/sessions/[^/]+/tell")
TELL_TEMPLATE = "/v1/sessions/{session_id}/tell"
# The method label's values: any other method the HTTP parser takes (PROPFIND, PURGE, ...) is
# "other", or anyone could multiply the series by sending them, keys or no keys.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe(scope: Scope, status: int, seconds: float) -> None:
    route, method = template(scope), scope["method"]
    prom.request_seconds(method if method in METHODS else "other", route).observe(seconds)
    if route == TELL_TEMPLATE and status >= 400 and method == "POST":  # a GET of /tell is no tell
        prom.tell_rejected(status)


def template(scope: Scope) -> str:
    """The matched route's template (the router leaves the route in the scope).  A tell refused
    before routing (a bad key, the rate limit) still counts as a tell."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template:
        return str(template)
    return TELL_TEMPLATE if TELL.fullmatch(scope["path"]) else "unmatched"
