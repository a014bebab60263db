"""An ASGI middleware that times every request by route template and counts rejected tells.

It sits outside every other layer, so every request is timed the same way, the tell included.
The template comes from the app's routes, never the raw path, so a session id never becomes a
label.
"""

from __future__ import annotations

import re
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from . import prom

TELL = re.compile(r"/v1/sessions/[^/]+/tell")
TELL_TEMPLATE = "/v1/sessions/{session_id}/tell"


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = self.template(scope)
            prom.request_seconds(scope["method"], route).observe(time.perf_counter() - start)
            if route == TELL_TEMPLATE and status[0] >= 400:
                prom.tell_rejected(status[0])

    @staticmethod
    def template(scope: Scope) -> str:
        """The matched route's template (the router leaves the route in the scope).  A tell
        refused before routing (a bad key, the rate limit) still counts as a tell."""
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        if template:
            return str(template)
        return TELL_TEMPLATE if TELL.fullmatch(scope["path"]) else "unmatched"
