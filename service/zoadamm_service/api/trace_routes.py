"""``GET /v1/sessions/{id}/trace``: the service's per-step trace of a session (``domain.trace``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from zoadamm import wire
from zoadamm.wire import SAFE_INT

from ..domain.answers import TraceAnswer
from .codec import JSON, respond
from .jsontext import dumps, finite_list
from .query import known_query

router = APIRouter(prefix="/v1", tags=["sessions"], dependencies=[Depends(known_query)])


@router.get("/sessions/{session_id}/trace", response_model=TraceAnswer,
            responses={200: {"content": {wire.MEDIA_TYPE: {}}}})
async def get_trace(request: Request, session_id: str,
                    since: int = Query(0, ge=0, le=SAFE_INT, description="Only the points of steps >= since."),
                    tail: int | None = Query(None, ge=0, le=SAFE_INT, description="Only the last N points.")):
    """The session's trace, columnar: per kept step its time, f, gradient norm, coefficient
    spread, lr and mu.  In the binary frame, f, g_norm, spread, lr and mu are float32 vectors."""
    fields, vectors = await request.app.state.reports.trace(request.state.tenant, session_id, since, tail)
    if wire.accepts_frame(request.headers.get("accept", "")):
        return respond(request, fields, vectors)
    body = dict(fields)
    body.update({k: finite_list(v) for k, v in vectors.items()})
    return Response(dumps(body), media_type=JSON)
