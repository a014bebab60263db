"""What the service says about itself: Prometheus metrics (``prom``), request timing
(``requests``, which ``api.pipeline`` calls for every request) and store call timing
(``timed_store``).  ``install`` adds ``/metrics`` to an app."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..errors import ServiceError
from ..store.base import Store
from . import prom


def install(app: FastAPI) -> None:
    """``/metrics``: the Prometheus text exposition."""
    # the count reads the dashboard's tables, no more often than five of their loads
    app.state.active_count = ActiveCount(5 * app.state.settings.dashboard_cache_s)
    made = app.state.exposition = Exposition()

    @app.get("/metrics", tags=["health"], response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (text exposition), summed over the service's worker processes."""
        active = await _active_sessions(request)
        return Response(await made.read(lambda: prom.exposition(active)), media_type=CONTENT_TYPE_LATEST)


class Exposition:
    """The text exposition, made on a worker thread and one at a time: ``/metrics`` needs no key,
    and each one costs milliseconds of CPU, which scrapes sent as fast as a client can would
    otherwise take from every other call on the event loop.  A scrape gets an exposition begun
    after it arrived (never an older one): waiting scrapes share the next one made."""

    def __init__(self) -> None:
        self._turn = asyncio.Lock()
        self._begun = 0  # expositions begun so far
        self._done = 0  # the number of the newest one finished (its place among those begun)
        self._text = b""
        self.waiting = 0  # scrapes waiting for their turn

    async def read(self, make) -> bytes:
        arrived = self._begun
        self.waiting += 1
        try:
            await self._turn.acquire()
        finally:
            self.waiting -= 1
        try:
            if self._done > arrived:  # begun after this scrape arrived: share it
                return self._text
            self._begun += 1
            number = self._begun
            self._text = await asyncio.to_thread(make)
            self._done = number
            return self._text
        finally:
            self._turn.release()


async def _active_sessions(request: Request) -> int | None:
    """Sessions with a step in the last minute, summed over the tenants (the count names none of
    them).  Counted at most once per ``ActiveCount.every_s``, whatever the scrapes' rate: the count
    reads every tenant's dashboard table, and ``/metrics`` needs no key.  A scrape waits up to
    ``ACTIVE_WAIT_S`` for a count it started and otherwise answers the last one; None when there
    is none (the store did not answer): every other metric is in memory, and a scrape must still
    get them while Redis hangs."""
    overview = getattr(request.app.state, "overview", None)
    if overview is None:
        return None
    return await request.app.state.active_count.read(overview, request.app.state.tenants)


ACTIVE_WAIT_S = 0.5


class ActiveCount:
    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.value: int | None = None
        self.counted_at = -math.inf
        self.counting: asyncio.Task | None = None

    async def read(self, overview, tenants) -> int | None:
        if self.counting is None and time.monotonic() - self.counted_at >= self.every_s:
            # a context of its own: the count outlives a scrape that stops waiting for it
            self.counting = asyncio.create_task(self._count(overview, tenants), context=contextvars.Context())
        if self.counting is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.counting), ACTIVE_WAIT_S)
        return self.value

    async def _count(self, overview, tenants) -> None:
        try:
            # at once, not one tenant after another: with many tenants and the event loop busy,
            # waiting for each in turn took longer than a scrape's timeout
            self.value = sum(await asyncio.gather(*(overview.active_sessions(tenant) for tenant in tenants)))
        except ServiceError:
            self.value = None
        finally:
            self.counted_at, self.counting = time.monotonic(), None


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
