"""One mapping from errors to HTTP answers, so no route ever answers 500 for bad input."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

from zoadamm import InvalidArgument

from ..errors import ServiceError
from .codec import clean_errors
from .jsontext import FiniteJSON as JSONResponse


def error_response(exc: ServiceError | InvalidArgument, retry_after: int = 1) -> JSONResponse:
    if isinstance(exc, InvalidArgument):
        return JSONResponse({"detail": str(exc)}, status_code=422)
    # a 503 says when to try again, so clients back off instead of hammering a store that is down
    headers = {"Retry-After": str(retry_after)} if exc.status == 503 else None
    return JSONResponse({"detail": exc.message, **exc.details}, status_code=exc.status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc, request.app.state.settings.retry_after_s)

    @app.exception_handler(InvalidArgument)
    async def invalid_argument(request: Request, exc: InvalidArgument) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input back, and a NaN input then fails to serialise.
        return JSONResponse({"detail": "invalid request", "errors": clean_errors(exc.errors())}, status_code=422)
