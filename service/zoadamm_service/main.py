"""Builds the app (``create_app``) and runs it (``zoadamm-service``)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI

from zoadamm import _ball_load, adamm

from . import dashboard, pages, telemetry
from .api import docs, edge, handlers, routes, trace_routes
from .api.admission import Admission
from .api.auth import Authenticate
from .api.body import BodyBytes
from .api.jsontext import FiniteJSON, error_response
from .api.lean_route import LeanApp
from .api.pipeline import Gate, Pipeline
from .api.ratelimit import LimitFailedKeys, Throttle
from .domain.leases import Leases
from .domain.reports import Reports
from .domain.sessions import Sessions
from .errors import StoreUnavailable
from .settings import Settings, misspelled, shown_url
from .store import Store, faults, open_store
from .tenants import OPEN_TENANT, OPEN_TENANT_NOTE, KeyRing

log = logging.getLogger("zoadamm.service")
API_DESCRIPTION = (
    "Create a session with x0, then per step: ask for the open step (its seed, mu and, if you cannot "
    "regenerate them, the directions u), evaluate f(x) and f(x + mu u_i), and tell the values; the answer "
    "is the update (x, or its checksum to apply it yourself).  First-order sessions tell a gradient "
    "instead.  Several workers can share a step through leases.  Every error answers JSON with a message "
    "(Error); a request repeated with the same Idempotency-Key gets the first answer.  The guide, with the "
    "update rules and the binary frame: docs/api.md in the project.")
OPEN_WARNING = (
    "*** zoadamm runs OPEN: ZOADAMM_API_KEYS is not set, so anyone who reaches this service can "
    "read, change and delete every session.  Fine for one person on 127.0.0.1; anywhere else set "
    "ZOADAMM_API_KEYS (`zoadamm-service keys new TENANT` prints an entry). ***"
)

HEALTH_REASON_IN_LOG = "the store is not ready; the service's log says why"


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """A new app with its own store; tests build as many as they like."""
    settings = settings or Settings()
    store = telemetry.timed_store(store or open_store(settings))

    keys = KeyRing.parse(settings.api_keys) if settings.api_keys else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        asyncio.get_running_loop().set_exception_handler(faults.said_briefly)
        for line in misspelled(os.environ):
            log.warning(line)
        if keys is None:
            log.warning(OPEN_WARNING)
        elif OPEN_TENANT in keys.tenants:
            log.warning("ZOADAMM_API_KEYS: %s", OPEN_TENANT_NOTE)
        if settings.redis_url:  # said at start, not only in the first call's 503
            try:
                await store.ping()
            except StoreUnavailable as error:  # it answered, or not: the reason says which
                log.warning("Redis at %s is not ready (%s): calls get 503 until it is",
                            shown_url(settings.redis_url), error.message)
            except Exception as error:  # noqa: BLE001 - any failure to answer is worth the line
                log.warning("Redis at %s does not answer (%s): calls get 503 until it does",
                            shown_url(settings.redis_url), type(error).__name__)
        if getattr(app.state, "freeze_gc", False):
            gc.collect()
            gc.freeze()
        yield
        await app.state.sessions.aclose()  # checkpoints still being written need the store
        await store.close()
        for gate in gates:  # the limits' counters hold connections of their own
            if isinstance(gate, (Throttle, LimitFailedKeys)):
                await gate.aclose()

    app = LeanApp(
        title="zoadamm",
        version="0.1.0",
        summary="Zeroth-order AdaMM as a service: ask for directions, tell function values.",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        default_response_class=FiniteJSON,  # NaN and infinities as null (api.jsontext)
        docs_url=None,  # api.docs serves /docs and /redoc from the package, not a CDN
        # paths are exact: Starlette's redirect of a trailing slash writes the request's Host
        # header into Location, which a shared cache in front would hand to others
        redirect_slashes=False,
        redoc_url=None,
        # the service's metrics are Prometheus's (telemetry); FastAPI's OpenTelemetry hook would
        # look up the global providers (environment variables) on every request to find none
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    tenant_share = BodyBytes.share(settings.max_body_bytes_in_flight, settings.max_body_bytes,
                                   len(keys.tenants) if keys is not None else 1)
    app.state.body_bytes = BodyBytes(settings.max_body_bytes_in_flight, tenant_share)
    app.state.sessions = Sessions(store, settings, telemetry.prom)
    app.state.leases = Leases(app.state.sessions)
    app.state.reports = Reports(app.state.sessions)
    app.state.tenants = {OPEN_TENANT} if keys is None else keys.tenants
    handlers.install(app)
    app.include_router(routes.lean)
    app.include_router(routes.router)
    app.include_router(trace_routes.router)
    dashboard.install(app)
    docs.install(app)
    pages.install(app)
    open_names = None if keys is not None or settings.allow_open else frozenset(
        n.strip().lower() for n in settings.open_host_names.split(",") if n.strip())
    authenticate: Gate = Authenticate(keys, open_names)  # every /v1 call, the tell included
    if keys is not None and settings.auth_fail_limit:
        authenticate = LimitFailedKeys(authenticate, settings.auth_fail_limit, settings.redis_url,
                                       settings.redis_cluster, settings.redis_max_connections)
    gates: list[Gate] = [authenticate]
    if settings.rate_limit:  # after the key: it counts per key
        gates.append(Throttle(settings.rate_limit, settings.redis_url, settings.redis_cluster, settings.retry_after_s,
                              settings.redis_max_connections))
    app.add_middleware(Pipeline, gates=gates, store_budget_s=settings.redis_timeout_s,
                       admission=Admission(settings.max_calls, settings.queue_timeout_s, settings.retry_after_s),
                       body_bytes=app.state.body_bytes)
    edge.install(app)
    telemetry.install(app)

    last_said = None  # what the log last said of a failed /healthz

    @app.get("/healthz", tags=["health"])
    async def healthz():
        """200 when the store answers, 503 when it does not.  With API keys the 503 does not say
        why, the service's log does: anyone may call /healthz, and Redis's errors name its host."""
        nonlocal last_said
        try:
            await store.ping()
        except StoreUnavailable as exc:
            if exc.message != last_said:  # once per new reason: a balancer polls every few seconds
                log.warning("/healthz: %s", exc.message)
                last_said = exc.message
            reason = exc.message if keys is None else HEALTH_REASON_IN_LOG
            return error_response(503, reason, {"Retry-After": str(settings.retry_after_s)}, status="unavailable")
        last_said = None
        return {"status": "ok", "store": type(store).__name__}

    return app


def serve_app() -> FastAPI:
    """The app as ``zoadamm-service`` runs it: ``create_app`` in a process made ready to serve for
    long (``prepare_process``), and once it has started, every object it holds moves out of the
    garbage collector's sight (``gc.freeze``).  A full collection otherwise walks all those
    objects while no request is answered, a pause every request in flight waits out
    (``benchmarks/bench_gc_pause.py`` measures it).
    Only the process's own app freezes them; tests build many apps in one process."""
    prepare_process()
    app = create_app()
    app.state.freeze_gc = True
    return app


def prepare_process() -> None:
    """What a process that serves for long pays once at start: the compiled updates, taken by
    every session's step from then on, whatever its size (``zoadamm.adamm.load_compiled``), and
    the l2 ball's compiled passes (``zoadamm._ball_load``), which would otherwise
    load in the first tell of a session with a ball while the process's other tells wait."""
    adamm.load_compiled()
    _ball_load.load_compiled()
