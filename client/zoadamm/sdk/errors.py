"""The SDK's exceptions, one class per kind of failure (the same tree as openai-python's)."""

from __future__ import annotations

import httpx


class APIError(Exception):
    """Anything that went wrong talking to the service."""


class APIConnectionError(APIError):
    """The service could not be reached, or the connection broke (retried automatically)."""


class APITimeoutError(APIConnectionError):
    pass


class APIStatusError(APIError):
    """The service answered with a 4xx or 5xx status; ``body`` is its JSON error."""

    def __init__(self, message: str, response: httpx.Response, body: dict | None) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.body = body or {}


class BadRequestError(APIStatusError):  # 400: undecodable body
    pass


class NotFoundError(APIStatusError):  # 404: unknown session
    pass


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


def error_for(response: httpx.Response, body: dict | None) -> APIStatusError:
    status = response.status_code
    cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    detail = (body or {}).get("detail") or response.reason_phrase
    return cls(f"{status} {detail}", response, body)
