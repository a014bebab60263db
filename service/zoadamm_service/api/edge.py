"""The outer edge of every answer: security headers, no 500 that closes the connection, and 405s
whose ``Allow`` lists every method of the path (one path may be served by several routes)."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .openapi import all_routes

log = logging.getLogger("zoadamm.service")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff")]


class Edge:
    """Adds the security headers; turns an unexpected error into a JSON 500 (no trace in the
    body) that is *answered*, so the client's keep-alive connection stays usable."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # the answer is half sent: only closing the connection can end it
            body = json.dumps({"detail": "internal error; the service logged it"}).encode()
            await sending({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await sending({"type": "http.response.body", "body": body})


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at ``path``."""
    methods: set[str] = set()
    for route in all_routes(app.router.routes):
        if route.path_regex.match(path):
            methods |= set(route.methods or ())
    return sorted(methods)


def install(app: FastAPI) -> None:
    app.add_middleware(Edge)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
