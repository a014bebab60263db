"""The SDK's exceptions, one class per kind of failure (the same tree as openai-python's).

Every one is a ``zoadamm.ZoadammError``; each message names the URL it concerns.
"""

from __future__ import annotations

import httpx

from ..exceptions import ZoadammError


class APIError(ZoadammError):
    """Anything that went wrong talking to the service."""


class APIConnectionError(APIError):
    """The service could not be reached, or the connection broke (retried automatically).

    ``url`` is the address of the request that failed (None when it is unknown)."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class APITimeoutError(APIConnectionError):
    pass


class APIStatusError(APIError):
    """The service answered with a 4xx or 5xx status; ``body`` is its JSON error."""

    def __init__(self, message: str, response: httpx.Response, body: dict | None) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.body = body or {}
        request = _request_of(response)
        self.url = str(request.url) if request is not None else None


class BadRequestError(APIStatusError):  # 400: undecodable body
    pass


class NotFoundError(APIStatusError):  # 404: unknown session, or a URL that is not the API's
    @property
    def no_such_path(self) -> bool:
        """True when nothing is served at that path (a wrong base URL), rather than an unknown
        session: the service names the session it did not find, a missing route does not."""
        return self.body.get("detail") in (None, "Not Found")


class ConflictError(APIStatusError):  # 409: stale or future step; ``step`` is the session's
    @property
    def step(self) -> int | None:
        return self.body.get("step")


class PayloadTooLargeError(APIStatusError):  # 413
    pass


class UnsupportedMediaTypeError(APIStatusError):  # 415
    pass


class UnprocessableEntityError(APIStatusError):  # 422: values out of range, wrong dimension, NaN
    pass


class RateLimitError(APIStatusError):  # 429 (retried automatically)
    pass


class InternalServerError(APIStatusError):  # 5xx (retried automatically)
    pass


class ServiceUnavailableError(InternalServerError):  # 503: the store is down
    pass


_BY_STATUS = {
    400: BadRequestError, 404: NotFoundError, 409: ConflictError, 413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError, 422: UnprocessableEntityError, 429: RateLimitError,
    503: ServiceUnavailableError,
}


PATH_HINT = ("nothing is served at this path: the base URL must be the service's root (such as "
             "http://127.0.0.1:8000), under which the API lives at /v1/sessions")


def error_for(response: httpx.Response, body: dict | None) -> APIStatusError:
    """The exception for an error answer: "<status> <detail> (<method> <url>)", plus a hint
    when a 404 comes from a path that does not exist."""
    status = response.status_code
    cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    detail = (body or {}).get("detail") or response.reason_phrase
    request = _request_of(response)
    where = f" ({request.method} {request.url})" if request is not None else ""
    error = cls(f"{status} {detail}{where}", response, body)
    if isinstance(error, NotFoundError) and error.no_such_path:
        error.args = (f"{error.args[0]}: {PATH_HINT}",)
    return error


def _request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:  # a Response built by hand has no request
        return None
