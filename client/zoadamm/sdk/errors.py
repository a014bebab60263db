"""The SDK's exceptions, one class per kind of failure (the same tree as openai-python's).

Every one is a ``zoadamm.ZoadammError``; each message names the URL it concerns and, where it
can, what to do.
"""

from __future__ import annotations

import httpx

from ..exceptions import ZoadammError
from .options import DEFAULT_URL
from .reasons import reasons


class APIError(ZoadammError):
    """Anything that went wrong talking to the service."""


class ClientClosedError(ZoadammError, RuntimeError):
    """A call on a client after its ``close()`` (``aclose()``): make a new client; or a tell or
    report on a ``RemoteOptimizer`` after its ``close()``: ``RemoteOptimizer.resume`` continues it."""


class EventLoopError(ClientClosedError):
    """A call (or ``aclose()``) on an ``AsyncClient`` from another event loop than the one it first
    ran on, whose connections belong to that loop: make one ``AsyncClient`` in each
    ``asyncio.run`` (``async with`` inside it)."""


class APIConnectionError(APIError):
    """The service could not be reached, or the connection broke (retried automatically).

    ``url`` is the address of the request that failed (None when it is unknown); ``session_id``
    and ``step``, where a run of ``minimize`` stood when it lost the service (else None)."""

    def __init__(self, message: str, url: str | None = None, session_id: str | None = None,
                 step: int | None = None) -> None:
        super().__init__(message)
        self.url, self.session_id, self.step = url, session_id, step


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

    def __reduce__(self):
        # a response does not cross processes (a pool's worker raising one): its status, body and URL do
        return _rebuilt, (type(self), str(self), self.status_code, self.body, self.url)


def _rebuilt(cls: type[APIStatusError], message: str, status: int, body: dict, url: str | None) -> APIStatusError:
    """An APIStatusError of ``cls`` again, from what ``__reduce__`` kept."""
    request = httpx.Request("GET", url) if url else None
    return cls(message, httpx.Response(status, json=body, request=request), body)


class BadRequestError(APIStatusError):  # 400: undecodable body
    pass


class AuthenticationError(APIStatusError):  # 401: no API key, or one refused (a 429 for too many refused)
    pass


class ForeignServerError(APIStatusError):
    """Something answered, but not a zoadamm service: another HTTP server on that port, or a
    page where the API should be.  ``status_code`` is whatever that server answered."""


class NotFoundError(APIStatusError):  # 404: unknown session, or a URL that is not the API's
    @property
    def no_such_path(self) -> bool:
        """True when nothing is served at that path (a wrong base URL), rather than an unknown
        session: the service names the session it did not find, a missing route does not."""
        return self.body.get("detail") == "Not Found"


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


class RateLimitError(APIStatusError):  # 429: retried automatically, but for a tenant's quota (no Retry-After)
    pass


class InternalServerError(APIStatusError):  # 5xx (500, 502, 503, 504 retried automatically)
    pass


class ServiceUnavailableError(InternalServerError):  # 503: the store is down
    pass


_BY_STATUS = {
    400: BadRequestError, 401: AuthenticationError, 404: NotFoundError, 409: ConflictError,
    413: PayloadTooLargeError, 415: UnsupportedMediaTypeError, 422: UnprocessableEntityError,
    429: RateLimitError, 503: ServiceUnavailableError,
}
PATH_HINT = ("nothing is served at this path: the base URL must be the service's root (such as "
             f"{DEFAULT_URL}), under which the API lives at /v1/sessions")
KEY_HINT = "pass it as Client(api_key=...) or set the ZOADAMM_API_KEY environment variable"
# a proxy's own word about the service behind it: the service may be back in a moment
GATEWAY_STATUSES = (502, 503, 504)


def from_service(response: httpx.Response, body: dict | None) -> bool:
    """Whether an error answer is a zoadamm service's: every error it gives (its balancer's
    too) is a JSON object with a ``detail``.  Gateway errors count as the service's."""
    return (body is not None and "detail" in body) or response.status_code in GATEWAY_STATUSES


def error_for(response: httpx.Response, body: dict | None) -> APIStatusError:
    """The exception for an error answer: "<status> <detail> (<method> <url>)", with the
    fields a 422 refused and why, and what to do about a 401, a missing path or another server."""
    if not from_service(response, body):
        return foreign_server(response, body)
    status = response.status_code
    cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    if "www-authenticate" in response.headers:  # a refused key, also as a 429 for too many of them
        cls = AuthenticationError
    detail = (body or {}).get("detail") or response.reason_phrase
    request = _request_of(response)
    if status == 422 and isinstance((body or {}).get("errors"), list) and (body or {})["errors"]:
        creating = request is not None and request.method == "POST" and request.url.path.endswith("/v1/sessions")
        detail = reasons((body or {})["errors"], creating)
    where = f" ({request.method} {request.url})" if request is not None else ""
    # a Retry-After the retries did not wait out (over a minute, or past the retry window): when
    # to try again, in the message, where a gateway's own body would not say it
    later = response.headers.get("retry-after", "").strip() if status in (429, 503) else ""
    if later and "retry" not in detail.lower():  # the service's own words say it ("retry in 2 s")
        detail += f"; try again after {later} s" if later.isdigit() else f"; try again after {later}"
    error = cls(f"{status} {detail}{where}", response, body)
    if isinstance(error, NotFoundError) and error.no_such_path:
        error.args = (f"{error.args[0]}: {PATH_HINT}",)
    if isinstance(error, AuthenticationError):
        sent = request is not None and "authorization" in request.headers
        need = "the service refused the API key sent" if sent else "the service needs an API key"
        error.args = (f"{error.args[0]}: {need}; {KEY_HINT}",)
    return error


def foreign_server(response: httpx.Response, body: dict | None) -> ForeignServerError:
    """The error for an answer that no zoadamm service gives, naming the URL where one was expected."""
    request = _request_of(response)
    answered = f"{response.status_code} {response.reason_phrase}".strip()
    if request is None:
        return ForeignServerError(f"no zoadamm service answered (another server answered {answered})", response, body)
    return ForeignServerError(
        f"no zoadamm service at {service_root(request.url)}: {request.method} {request.url} was answered "
        f"{answered} by another HTTP server; give the client the URL of a zoadamm service (such as "
        f"{DEFAULT_URL})", response, body)


def redirected(response: httpx.Response) -> ForeignServerError:
    """The error for a redirect: a zoadamm service answers none, so the client's URL is not its
    root, or something in front of it moved it; the SDK does not follow one."""
    request, target = _request_of(response), response.headers.get("location", "?")
    where = "the service" if request is None else f"{request.method} {request.url}"
    return ForeignServerError(
        f"{where} was answered {response.status_code} {response.reason_phrase}, a redirect to {target}: a "
        "zoadamm service answers no redirect; give the client the URL it redirects to as base_url", response, None)


def service_root(url: httpx.URL) -> str:
    """The base URL a request of the SDK was made under (its API paths start /v1/ or /healthz)."""
    path = url.path
    cut = min((i for i in (path.find("/v1/"), path.find("/healthz")) if i >= 0), default=len(path))
    return str(url.copy_with(path=path[:cut] or "/", query=None)).rstrip("/")


def _request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:  # a Response built by hand has no request
        return None
