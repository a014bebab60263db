"""405s whose ``Allow`` lists every method of the path (one path may be served by several
routes), and every HTTP error of the framework as the service's JSON error.  The security
headers and the answered 500 are the ``pipeline``'s."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from .jsontext import FiniteJSON, error_response
from .openapi import all_routes


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at ``path`` (HEAD wherever GET: the pipeline answers it)."""
    methods: set[str] = set()
    for route in all_routes(app.router.routes):
        if route.path_regex.match(path):
            methods |= set(route.methods or ())
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> FiniteJSON:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # no route lists methods for a static file: its mount serves GET and HEAD
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path) or ("GET", "HEAD"))
        return error_response(exc.status_code, exc.detail, headers)
