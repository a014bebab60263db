"""A route for the per-step call that skips FastAPI's dependency injection, and only that.

FastAPI resolves a route's parameters on every request (``solve_dependencies``), much of the
framework's CPU per tell.  A ``LeanRoute`` hands its endpoint the request and the path
parameters, and the endpoint reads its body and query itself.  An endpoint
marked ``with_asgi`` goes further: the route calls its ASGI twin with the call's scope, and no
Request or Response object is made (``api.tell``).  Everything else stays as for any route:
routing and the route template in ``scope["route"]``, every middleware, the exception
handlers, the OpenAPI description (made from the endpoint; query parameters go in
``openapi_extra``).  A route that has dependencies (its own, or its router's) gets FastAPI's
standard handler back, so a dependency added later is never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

ASGI = "lean_route_asgi"  # the attribute ``with_asgi`` sets on an endpoint
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def with_asgi(endpoint: Endpoint, asgi: ASGIApp) -> Endpoint:
    """Marks ``endpoint`` as answered by ``asgi`` on a ``LeanRoute`` (the path parameters in
    ``scope["path_params"]``); the endpoint still describes the route and serves it when the
    route has dependencies."""
    setattr(endpoint, ASGI, asgi)
    return endpoint


class LeanRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.asgi: ASGIApp | None = None if self.dependant.dependencies else getattr(endpoint, ASGI, None)
        self.asgi_methods = frozenset(self.methods or ())

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if self.dependant.dependencies:
            return super().get_route_handler()
        endpoint: Callable[..., Coroutine[Any, Any, Response]] = self.endpoint

        async def handle(request: Request) -> Response:
            return await endpoint(request, **request.path_params)

        return handle

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.asgi is not None and scope["method"] in self.asgi_methods:
            await self.asgi(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def query_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """OpenAPI text for a query parameter that a lean endpoint reads itself."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


class LeanApp(FastAPI):
    """FastAPI whose innermost middleware is a ``LeanLane``: every middleware of the app sees
    every call, then a call to a lean route with an ASGI twin goes straight to it."""

    def build_middleware_stack(self) -> ASGIApp:
        added = self.user_middleware
        self.user_middleware = [*added, Middleware(LeanLane)]  # after any added later: innermost
        try:
            return super().build_middleware_stack()
        finally:
            self.user_middleware = added


class LeanLane:
    """Past the router for the lean routes' ASGI twins (``with_asgi``): the router walks the
    app's routes and FastAPI's included routers on every call, and its exception and exit-stack
    layers run around the route (``benchmarks/ab_tell_instructions.py`` counts it).  The lane matches the
    lean routes first (their own ``matches``: path, method and parameters, as the router does),
    leaves the route and its parameters in the scope as the router would, and runs the twin
    inside the app's exception handlers, so an error becomes the same answer.  A route reached
    through an include with a prefix or dependencies of its own is left to the router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lanes: list[tuple[LeanRoute, ASGIApp]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route, asgi in self.lanes if self.lanes is not None else self._build(scope["app"]):
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await asgi(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _build(self, app: FastAPI) -> list[tuple[LeanRoute, ASGIApp]]:
        handlers = {key: handler for key, handler in app.exception_handlers.items() if key not in (500, Exception)}
        self.lanes = [(route, ExceptionMiddleware(route.asgi, handlers=handlers, debug=app.debug))
                      for route in _lean_routes(app.router.routes) if route.asgi is not None]
        return self.lanes


def _lean_routes(routes: list) -> Iterator[LeanRoute]:
    """The lean routes among ``routes``, and in included routers that add no prefix and no
    dependencies (whose routes the lane would otherwise match at the wrong path, or unguarded)."""
    for route in routes:
        if isinstance(route, LeanRoute):
            yield route
        context = getattr(route, "include_context", None)
        if context is not None and not context.prefix and not context.dependencies:
            yield from _lean_routes(route.original_router.routes)
