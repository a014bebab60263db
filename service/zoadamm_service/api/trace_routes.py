"""``GET /v1/sessions/{id}/trace``: the service's per-step trace of a session (``domain.trace``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from zoadamm import wire
from zoadamm.wire import SAFE_INT

from .codec import JSON, respond
from .jsontext import dumps, finite_list
from .query import known_query

router = APIRouter(prefix="/v1", tags=["sessions"], dependencies=[Depends(known_query)])


class TraceAnswer(BaseModel):
    stride: int = Field(description="Points are kept every stride-th step; it doubles when the trace is full.")
    since: int
    step: list[int]
    time: list[float] = Field(description="Unix time each step was committed.")
    f: list[float | None] = Field(description="ZO: mean f_x reported (central: mean of (f_plus+f_minus)/2); FO: null.")
    g_norm: list[float] = Field(
        description="FO: gradient norm; ZO: sqrt(E||u||^2 sum c_i^2), exact for q=1 on the sphere.")
    spread: list[float | None] = Field(description="ZO: standard deviation of the q coefficients; FO: null.")
    lr: list[float]
    mu: list[float]
    last: dict | None = Field(description="The newest point, kept whatever the stride.")


@router.get("/sessions/{session_id}/trace", response_model=TraceAnswer,
            responses={200: {"content": {wire.MEDIA_TYPE: {}}}})
async def get_trace(request: Request, session_id: str,
                    since: int = Query(0, ge=0, le=SAFE_INT, description="Only the points of steps >= since."),
                    tail: int | None = Query(None, ge=0, le=SAFE_INT, description="Only the last N points.")):
    """The session's trace, columnar: per kept step its time, f, gradient norm, coefficient
    spread, lr and mu.  In the binary frame, f, g_norm, spread, lr and mu are float32 vectors."""
    fields, vectors = await request.app.state.sessions.trace(request.state.tenant, session_id, since, tail)
    if wire.accepts_frame(request.headers.get("accept", "")):
        return respond(request, fields, vectors)
    body = dict(fields)
    body.update({k: finite_list(v) for k, v in vectors.items()})
    return Response(dumps(body), media_type=JSON)
