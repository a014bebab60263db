"""One mapping from errors to HTTP answers, so no route ever answers 500 for bad input."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

from zoadamm import InvalidArgument

from ..errors import NotFound, ServiceError, SessionReplaced
from ..settings import Settings
from .codec import clean_errors, error_detail, one_branch
from .jsontext import FiniteJSON as JSONResponse
from .jsontext import error_response

log = logging.getLogger("zoadamm.service")
# redis-py's connection errors name Redis's host and port ("Error 111 connecting to 10.0.0.5:6379.
# Connect call failed ('10.0.0.5', 6379)."), which a client has no business knowing: it reads
# "Redis" there (/healthz's log keeps them)
_REDIS_ADDRESS = re.compile(r"(?<=connecting to )\S+:\d+|\('[^']*', \d+(?:, \d+)*\)")
EMBEDDED = "this service keeps its sessions in its own memory, which a restart empties: REDIS_URL keeps them"


def answer_for(exc: ServiceError | InvalidArgument, retry_after: int = 1) -> JSONResponse:
    if isinstance(exc, InvalidArgument):
        return error_response(422, str(exc))
    # a 503 says when to try again, so clients back off instead of hammering a store that is down
    if exc.status != 503:
        return error_response(exc.status, exc.message, None, **exc.details)
    said = _REDIS_ADDRESS.sub(lambda found: "(Redis)" if found[0][0] == "(" else "Redis", exc.message)
    return error_response(503, said, {"Retry-After": str(retry_after)}, **exc.details)


def _gone(settings: Settings) -> str:
    """Where a session the client held may have gone, besides a delete: its idle time ran out, or
    the process that kept it in memory ended."""
    ttl = f"a session idle for {settings.session_ttl_s:,} s expires (ZOADAMM_SESSION_TTL_S)"
    return "; ".join(([ttl] if settings.session_ttl_s else []) + ([EMBEDDED] if settings.redis_url is None else []))


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        settings = request.app.state.settings
        if isinstance(exc, SessionReplaced):  # the old session's copy: the retry loads the new one
            request.app.state.sessions.replicas.forget(exc.session_id)
        elif isinstance(exc, NotFound) and (why := _gone(settings)):  # what may have taken the session
            exc = NotFound(f"{exc.message} ({why})", **exc.details)
        elif exc.status == 500:  # the service's own fault (a damaged store): the operator's to see
            log.error("%s %r: %s", request.method, request.url.path, exc.message)  # %r: the client's text
        return answer_for(exc, settings.retry_after_s)

    @app.exception_handler(InvalidArgument)
    async def invalid_argument(request: Request, exc: InvalidArgument) -> JSONResponse:
        return answer_for(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input back, and a NaN input then fails to serialise.
        errors = one_branch(exc.errors())
        listed = clean_errors(errors)
        return error_response(422, error_detail(listed, len(errors)), errors=listed)
