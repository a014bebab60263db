"""The v1 routes.  Each is a docstring (it becomes the OpenAPI text) and one call into the domain."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from zoadamm import AnswerMode, wire
from zoadamm._validate import some
from zoadamm.optimizer import CONFIG_VECTORS
from zoadamm.wire import SAFE_INT

from ..domain import limits
from ..domain.answers import AskAnswer, MetricsAnswer, MetricsList, Parameters, SessionList, SessionPublic, TellAnswer
from ..domain.leases import LeaseAsk, Leases
from ..domain.limits import PAGE_LIMIT
from ..domain.reports import Reports
from ..domain.sessions import Sessions
from ..errors import Invalid
from ..settings import Settings
from .codec import ASK_VECTORS, CREATE_VECTORS, JSON, NO_VECTORS, read_message, validate
from .codec import answer as encode_answer
from .idempotency import request_key
from .jsontext import with_rows
from .lean_route import LeanRoute, query_parameter, with_asgi
from .query import known_query
from .schemas import AskRequest, MetricsRequest, SessionCreate
from .tell import tell, tell_asgi


async def get_sessions(request: Request) -> Sessions:
    return request.app.state.sessions


async def get_leases(request: Request) -> Leases:
    return request.app.state.leases


async def get_reports(request: Request) -> Reports:
    return request.app.state.reports


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_tenant(request: Request) -> str:
    """The caller's tenant, which ``auth.Authenticate`` put on the request."""
    return str(request.state.tenant)


SessionsDep = Annotated[Sessions, Depends(get_sessions)]
LeasesDep = Annotated[Leases, Depends(get_leases)]
ReportsDep = Annotated[Reports, Depends(get_reports)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TenantDep = Annotated[str, Depends(get_tenant)]
# The tell has a router of its own, without dependencies: a route with any is served through
# FastAPI's dependency injection, not its lean lane (``lean_route``); it checks its query itself.
lean = APIRouter(prefix="/v1", tags=["sessions"])
router = APIRouter(prefix="/v1", tags=["sessions"], dependencies=[Depends(known_query)])
BINARY: dict[str, Any] = {"content": {wire.MEDIA_TYPE: {}}}
ANSWER_PARAMETER = query_parameter(
    "answer",
    {"title": "AnswerMode", "type": "string", "enum": [m.value for m in AnswerMode], "default": AnswerMode.X.value},
    "x: the updated parameters; checksum: a CRC of x and the step's coefficients, for clients that mirror the update.",
)


# The tell comes first: it is most of the traffic, and routes are matched in order.
lean.add_api_route(
    "/sessions/{session_id}/tell", with_asgi(tell, tell_asgi), methods=["POST"], route_class_override=LeanRoute,
    response_model=TellAnswer, responses={200: BINARY, 202: {"model": TellAnswer}},
    openapi_extra={"parameters": [ANSWER_PARAMETER]},
)


@router.post("/sessions", status_code=201, response_model=SessionPublic)
async def create_session(request: Request, sessions: SessionsDep, settings: SettingsDep, tenant: TenantDep):
    """Create a session: the optimizer's configuration, and optionally its initial parameters x0.
    Sent again with the same Idempotency-Key, it answers the session it created."""
    fields, vectors = await read_message(request, settings.max_body_bytes, CREATE_VECTORS)
    key = request_key(request, fields, vectors)
    body = validate(SessionCreate, fields)
    constraint = {name: vectors[name] for name in CONFIG_VECTORS if name in vectors}
    if constraint and fields.get("constraint") is None:  # the vectors alone are no set: say which
        said = "null (no feasible set)" if "constraint" in fields else "missing"
        raise Invalid(f"constraint is {said}, yet {some(sorted(constraint))} came with it: send the constraint "
                      "they belong to, those fields left out of it, or leave its vectors out")
    session = await sessions.create(tenant, body.config(), body.name, vectors.get("x0"), key, constraint)
    where = f"{request.scope.get('root_path', '')}/v1/sessions/{session.id}"
    return await encode_answer(request, session, status=201, headers={"Location": where})


@router.get("/sessions", response_model=SessionList)
async def list_sessions(sessions: SessionsDep, tenant: TenantDep, offset: int = Query(0, ge=0, le=SAFE_INT),
                        limit: int = Query(100, ge=1, le=1000)):
    """List your sessions, oldest first."""
    rows, total = await sessions.list(tenant, offset, limit)
    return SessionList(sessions=rows, total=total)


@router.get("/sessions/{session_id}", response_model=SessionPublic, responses={200: BINARY})
async def get_session(request: Request, session_id: str, sessions: SessionsDep, tenant: TenantDep):
    """One session: its configuration, open step, current lr and mu, and recent metrics; a
    constraint's vectors beside the config (frame vectors, or top-level JSON lists named
    "constraint.box.lower", ...)."""
    return await encode_answer(request, await sessions.view(tenant, session_id))


@router.delete("/sessions/{session_id}", status_code=204)
async def delete_session(session_id: str, sessions: SessionsDep, tenant: TenantDep):
    """Delete a session and everything stored for it."""
    await sessions.delete(tenant, session_id)
    return Response(status_code=204)


@router.post("/sessions/{session_id}/ask", response_model=AskAnswer, responses={200: BINARY})
async def ask(request: Request, session_id: str, sessions: SessionsDep, leases: LeasesDep, settings: SettingsDep,
              tenant: TenantDep, vectors: bool = Query(False, description="Also return the q direction vectors u.")):
    """The open step: its number, seed and mu.  Directions follow from (seed, step, index); ask
    for them with ?vectors=true if you cannot regenerate them.  With lease: the directions this
    worker should evaluate, and the records of the steps closed since its x."""
    fields, vecs = await read_message(request, settings.max_body_bytes, ASK_VECTORS)
    body = validate(AskRequest, fields)
    frame = wire.accepts_frame(request.headers.get("accept", ""))
    per_value = 4 if frame else 24  # a JSON number takes up to 24 bytes, a float32 in the frame 4
    if body.lease is not None:
        ask = LeaseAsk(body.lease, body.worker or uuid.uuid4().hex, body.wait, body.since, body.until,
                       getattr(request.state, "turn", None))
        return await encode_answer(request, await leases.lease(tenant, session_id, vecs.get("x"), ask, vectors,
                                                               per_value))
    return await encode_answer(request, await sessions.ask(tenant, session_id, vecs.get("x"), vectors, per_value))


@router.post("/sessions/{session_id}/metrics", response_model=MetricsAnswer)
async def post_metrics(request: Request, session_id: str, reports: ReportsDep, settings: SettingsDep,
                       tenant: TenantDep):
    """Report a validation loss (and other named numbers); answers lr and mu after the schedule.
    Sent again with the same Idempotency-Key, it answers as the first time and changes nothing."""
    fields, vectors = await read_message(request, settings.max_body_bytes, NO_VECTORS)
    key = request_key(request, fields, vectors, kind="metrics")
    if isinstance(fields.get("metrics"), dict):  # how many, before each is validated
        limits.check_metric_names(settings, fields["metrics"])
    body = validate(MetricsRequest, fields)
    return await reports.report(tenant, session_id, body.value, body.metrics, key)


@router.get("/sessions/{session_id}/metrics", response_model=MetricsList)
async def get_metrics(
    session_id: str, reports: ReportsDep, tenant: TenantDep,
    cursor: int | None = Query(None, ge=0, le=SAFE_INT, description="Start at this report (a next_cursor)."),
    last: int | None = Query(None, ge=0, le=SAFE_INT, description="Without a cursor: start at the last N reports."),
    limit: int = Query(1000, ge=1, le=PAGE_LIMIT, description="At most this many reports (and at most 256 KiB)."),
):
    """The metric history, oldest first, a page at a time: follow next_cursor until it is null."""
    page = await reports.metrics(tenant, session_id, cursor, last, limit)
    return Response(with_rows({"next_cursor": page.next_cursor, "end_cursor": page.end}, "items", page.items),
                    media_type=JSON)


@router.get("/sessions/{session_id}/x", response_model=Parameters, responses={200: BINARY})
async def get_parameters(request: Request, session_id: str, sessions: SessionsDep, tenant: TenantDep):
    """The session's current parameters and step."""
    return await encode_answer(request, await sessions.parameters(tenant, session_id))
