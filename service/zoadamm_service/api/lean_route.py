"""A route for the per-step call that skips FastAPI's dependency injection, and only that.

FastAPI resolves a route's parameters on every request (``solve_dependencies``): for the tell,
a third of the framework's CPU per call at d = 1,400.  A ``LeanRoute`` hands its endpoint the
request and the path parameters, and the endpoint reads its body and query itself.  An endpoint
marked ``with_asgi`` goes further: the route calls its ASGI twin with the call's scope, and no
Request or Response object is made (``api.tell``).  Everything else stays as for any route:
routing and the route template in ``scope["route"]``, every middleware, the exception
handlers, the OpenAPI description (made from the endpoint; query parameters go in
``openapi_extra``).  A route that has dependencies (its own, or its router's) gets FastAPI's
standard handler back, so a dependency added later is never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
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
