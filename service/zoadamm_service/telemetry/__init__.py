"""What the service says about itself: Prometheus metrics (``prom``), request timing
(``requests``, which ``api.pipeline`` calls for every request) and store call timing
(``timed_store``).  ``install`` adds ``/metrics`` to an app."""

from __future__ import annotations

import asyncio
import functools
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..errors import ServiceError
from ..store.base import Store
from . import prom


def install(app: FastAPI) -> None:
    """``/metrics``: the Prometheus text exposition."""

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (text exposition), summed over the service's worker processes."""
        return Response(prom.exposition(await _active_sessions(request)), media_type=CONTENT_TYPE_LATEST)


async def _active_sessions(request: Request) -> int | None:
    """Sessions with a step in the last minute, summed over the tenants (the count names none of
    them); None when the store does not answer within ``ACTIVE_WAIT_S``: every other metric is
    in memory, and a scrape must still get them while Redis hangs."""
    overview = getattr(request.app.state, "overview", None)
    if overview is None:
        return None
    # at once, not one tenant after another: with many tenants and the event loop busy,
    # waiting for each in turn took longer than a scrape's timeout
    tenants = request.app.state.tenants
    try:
        async with asyncio.timeout(ACTIVE_WAIT_S):
            return sum(await asyncio.gather(*(overview.active_sessions(tenant) for tenant in tenants)))
    except (TimeoutError, ServiceError):
        return None


ACTIVE_WAIT_S = 0.5


def timed_store(store: Store) -> Store:
    """Time every store call (the instance's own methods are wrapped; its type stays), but the
    waits, whose time is the others' to spend."""
    kind = type(store).__name__.removesuffix("Store").lower()
    for name in Store.__abstractmethods__ - {"wait_past"}:
        setattr(store, name, _timed(getattr(store, name), kind, name))
    return store


def _timed(method, kind: str, name: str):
    histogram = prom.STORE_SECONDS.labels(kind, name)

    @functools.wraps(method)
    async def call(*args, **kwargs):
        start = time.perf_counter()
        try:
            result = await method(*args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - start)
        if name == "save_checkpoint":
            prom.CHECKPOINT_SAVED.set(time.time())
        return result

    return call
