"""Builds the app (``create_app``) and runs it (``zoadamm-service``)."""

from __future__ import annotations

import argparse
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from . import __doc__ as summary
from . import dashboard, telemetry, workers
from .api import docs, edge, handlers, routes, trace_routes
from .domain.sessions import Sessions
from .errors import StoreUnavailable
from .settings import Settings
from .store import Store, open_store

log = logging.getLogger("zoadamm.service")


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """A new app with its own store; tests build as many as they like."""
    settings = settings or Settings()
    store = telemetry.timed_store(store or open_store(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await app.state.sessions.aclose()  # checkpoints still being written need the store
        await store.close()

    app = FastAPI(
        title="zoadamm",
        version="0.1.0",
        summary="Zeroth-order AdaMM as a service: ask for directions, tell function values.",
        description=summary,
        lifespan=lifespan,
        docs_url=None,  # api.docs serves /docs and /redoc from the package, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.sessions = Sessions(store, settings)
    handlers.install(app)
    app.include_router(routes.router)
    app.include_router(trace_routes.router)
    dashboard.install(app)
    docs.install(app)
    edge.install(app)
    telemetry.install(app)  # after every other middleware: it times them all

    @app.get("/healthz", tags=["health"])
    async def healthz():
        """200 when the store answers, 503 when it does not."""
        try:
            await store.ping()
        except StoreUnavailable as exc:
            return JSONResponse({"status": "unavailable", "detail": exc.message}, status_code=503,
                                headers={"Retry-After": str(settings.retry_after_s)})
        return {"status": "ok", "store": type(store).__name__}

    return app


def cli(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="zoadamm-service", description="Run the zoadamm HTTP service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (needs REDIS_URL when > 1)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.workers > 1 and not settings.redis_url:
        parser.error("--workers > 1 needs REDIS_URL: the in-process store cannot be shared between processes")
    where = settings.redis_url or "the in-process store (nothing survives a restart; set REDIS_URL for Redis)"
    logging.basicConfig(level=args.log_level.upper())
    log.info("sessions are kept in %s", where)
    if args.workers > 1:
        workers.run(args.host, args.port, args.workers, args.log_level)  # gunicorn; does not return
    uvicorn.run(
        "zoadamm_service.main:create_app", factory=True, host=args.host, port=args.port,
        workers=args.workers, log_level=args.log_level, server_header=False,
    )
