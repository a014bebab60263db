"""The dashboard: a page at ``/dashboard`` (its scripts are served under ``/assets``) that polls
two JSON routes under ``/v1/dashboard``, answered from a shared cache (``overview``)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse

from zoadamm import METHODS
from zoadamm.wire import SAFE_INT

from .. import pages
from ..api.jsontext import dumps, spliced
from ..api.query import known_query
from ..domain.limits import PAGE_LIMIT
from .overview import Overview

STATIC = Path(__file__).with_name("static")

api = APIRouter(prefix="/v1/dashboard", tags=["dashboard"], dependencies=[Depends(known_query)])
views = APIRouter(tags=["dashboard"])


def install(app: FastAPI) -> None:
    app.state.overview = Overview(app.state.sessions, app.state.settings.dashboard_cache_s)
    app.include_router(api)
    app.include_router(views)


@views.get("/dashboard", response_class=FileResponse,
           responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}})
@views.get("/dashboard/", response_class=FileResponse, include_in_schema=False)  # as people type it
async def page():
    """The dashboard page: sessions, their live curves, and comparisons (it needs no data)."""
    return pages.page(STATIC / "index.html")


@api.get("/sessions")
async def table(request: Request):
    """One row per session (the newest 500): configuration (its feasible set without vectors),
    step, evaluations, steps/s, lr, mu, newest f and metric; how many sessions there are in all
    (total); every method a session may have (the method filter's choices); and the service's
    clock (now, Unix seconds), against which a page reads the rows' times.  Shared by every open
    dashboard; at most a second old (now is not)."""
    table = await request.app.state.overview.table(request.state.tenant)
    return _json({**table, "methods": METHODS, "now": time.time()})


@api.get("/sessions/{session_id}")
async def session(request: Request, session_id: str, since: int = Query(0, ge=0, le=SAFE_INT),
                  cursor: int | None = Query(None, ge=0, le=SAFE_INT, description="Metrics from this report on."),
                  limit: int = Query(PAGE_LIMIT, ge=1, le=PAGE_LIMIT, description="At most this many metrics."),
                  points: int = Query(0, ge=0, le=PAGE_LIMIT, description="Instead of a page: at most this many "
                                      "metrics spread over the history, the newest included.")):
    """A session's trace columns from step ``since``, and its metrics a page at a time (from
    ``cursor``; the answer's ``next_cursor`` continues, ``end_cursor`` is where new ones start)
    or as a series of ``points``; ``metric_history``: how many reports the service keeps of a
    session (a page adding new ones keeps no more).  Shared by every open dashboard; at most a
    second old."""
    answer = await request.app.state.overview.session(request.state.tenant, session_id, since, cursor, limit, points)
    answer["metric_history"] = request.app.state.settings.metric_history
    texts = {"trace": answer.pop("trace"), "metrics": f"[{', '.join(answer.pop('rows'))}]"}
    return Response(spliced(answer, texts), media_type="application/json")


def _json(body: dict) -> Response:
    """Plain json.dumps (``jsontext``): FastAPI's encoder walks a 2,000-point trace element by element."""
    return Response(dumps(body), media_type="application/json")
