"""What the sync and async clients share: building requests, the retry policy, and decoding
answers.  Only the sending differs between the two."""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx
import numpy as np

from .. import wire
from .._validate import InvalidArgument
from ._decode import decode
from .errors import APIConnectionError, APITimeoutError, ClientClosedError
from .options import DEFAULT_URL

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
log = logging.getLogger("zoadamm")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    fields: dict | None = None
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict | None = None
    # Sent as the POST's Idempotency-Key, the same on every retry of this call: a create or a
    # metric whose answer was lost is then applied once however often it is sent.  (Tells are
    # exactly-once by their step, asks change nothing after the first.)  Every call is thus safe
    # to send again.
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before sending a failed request again.  Answers with a
    status in ``statuses`` (429, 500, 502, 503, 504) are worth retrying, but for a 429 without
    Retry-After (a tenant's quota) and answers to a refused key; the others are final.

    ``window``: seconds from a call's first try during which a service that is away (no
    connection, or an answer of those statuses but 500) is asked again however many tries that
    takes, past ``max_retries``: a restart of a service's only replica outlasts the 4-8 s that
    five tries wait.  A 500 is this request failing, which waiting does not mend: ``max_retries``
    alone bounds it.  0 (the default): ``max_retries`` alone decides.  A Retry-After is waited
    out in full, up to ``max_retry_after`` seconds or as long as the window has left; a longer
    one is final (trying sooner than it says only uses up the tries); past ``max_retries`` the
    last try goes at the window's end, a Retry-After that ends later notwithstanding."""

    max_retries: int = 5
    base_delay: float = 0.25
    max_delay: float = 8.0
    statuses: frozenset[int] = RETRY_STATUSES
    window: float = 0.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, response: httpx.Response | None, started: float | None = None) -> float:
        """Capped exponential backoff with jitter, never shorter than a Retry-After header.
        A service shedding a burst answers every caller the same Retry-After: the backoff
        spreads their retries, and lengthens them while the burst lasts.  A try past
        ``max_retries`` (``started``: the call's first) is sent by the window's end at the latest."""
        # the exponent capped: a long window takes thousands of tries, and 2**attempt would
        # overflow a float long after the backoff reached max_delay
        backoff = random.uniform(0.5, 1.0) * min(self.max_delay, self.base_delay * 2 ** min(attempt, 32))
        after = None if response is None else retry_after(response.headers.get("retry-after", ""))
        wait = backoff if after is None else max(after, backoff)
        if response is not None and after is not None and after > self.max_delay:  # a quiet minute says why
            log.warning("zoadamm: %s answered %d; waiting %.0f s as its Retry-After asks", _service_of(response, None),
                        response.status_code, after)
        if attempt >= self.max_retries and started is not None:
            wait = min(wait, max(0.0, started + self.window - time.monotonic()))
        return wait


def retry_after(value: str) -> float | None:
    """Seconds to wait from a Retry-After header, which is a number of seconds or an HTTP-date
    (RFC 9110); None when it is neither."""
    value = value.strip()
    if value.isascii() and value.replace(".", "", 1).isdigit():  # "²" is a digit to isdigit, not to float
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT; anything else is not one
        return None
    return max(0.0, when.timestamp() - time.time())


# Requests of one client name few distinct URLs (a session's tell, again and again), and httpx
# parses and merges a URL on every request: ``build`` keeps the merged ones, this many at most.
URL_CACHE_SIZE = 1024


def request_url(client: httpx.Client | httpx.AsyncClient, call: Call, cache: dict | None):
    """The URL of ``call`` as the client's ``build_request`` makes it, from ``cache`` when it
    holds it; or the path alone (with ``call.params``) when caching cannot be exact: a client
    with default query parameters merges them into every request."""
    if cache is None or client.params:
        return call.path
    if cache.get("base") is not client.base_url or len(cache) > URL_CACHE_SIZE:
        cache.clear()  # a new base_url makes every cached URL wrong; a full cache starts again
        cache["base"] = client.base_url
    key = (call.path, None if call.params is None else tuple(call.params.items()))
    try:
        url = cache.get(key)
    except TypeError:  # a parameter given as a list: not worth a cache
        return call.path
    if url is None:
        url = cache[key] = client.build_request(call.method, call.path, params=call.params).url
    return url


def build(client: httpx.Client | httpx.AsyncClient, call: Call, binary: bool,
          api_key: str | None = None, urls: dict | None = None) -> httpx.Request:
    """The request of ``call``; ``urls`` is the client's cache of merged URLs (``request_url``)."""
    headers = {"accept": f"{wire.MEDIA_TYPE}, application/json" if binary else "application/json"}
    if api_key is not None:
        headers["authorization"] = f"Bearer {api_key}"  # httpx shows it as [secure] in any repr
    if call.method == "POST":
        headers["idempotency-key"] = call.key
    content = None
    if call.fields is not None:
        if binary:
            content = wire.encode(call.fields, call.vectors)
            headers["content-type"] = wire.MEDIA_TYPE
        else:
            body = dict(call.fields)
            for name, vector in call.vectors.items():
                if not np.isfinite(vector).all():  # JSON has no NaN: json.dumps's ValueError named nothing
                    raise InvalidArgument(f"{name} contains NaN, infinite or float32-overflowing values")
                body[name] = np.asarray(vector, dtype=np.float32).tolist()
            content = json.dumps(body, allow_nan=False).encode()
            headers["content-type"] = "application/json"
    url = request_url(client, call, urls)
    params = call.params if isinstance(url, str) else None
    return client.build_request(call.method, url, content=content, headers=headers, params=params)


def should_retry(attempt: int, policy: RetryPolicy, response=None, error=None, started: float | None = None) -> bool:
    """Whether a call whose try number ``attempt`` failed with ``response`` or ``error`` is sent
    again; ``started``: its first try's ``time.monotonic()``, from which ``policy.window`` counts.
    The first try past ``max_retries`` that the window allows logs a WARNING (``zoadamm`` logger)."""
    if not retryable(policy, response, error):
        return False
    left = policy.window - (time.monotonic() - started) if started is not None else 0.0
    after = None if response is None else retry_after(response.headers.get("retry-after", ""))
    if after is not None and after > max(policy.max_retry_after, left):
        return False
    if attempt < policy.max_retries:
        return True
    if started is None or (error is None and response.status_code == 500) or left <= 0:
        return False  # past max_retries, tries until the window's end, the last one at its end
    if attempt == policy.max_retries:
        more = f"{left:.1f}" if left < 10 else f"{left:.0f}"  # not "0 s more" for the window's last half second
        log.warning("zoadamm: %s does not answer (%s); trying again for up to %s s more",
                    _service_of(response, error), _failure(response, error), more)
    return True


def retryable(policy: RetryPolicy, response: httpx.Response | None, error: httpx.TransportError | None) -> bool:
    if error is not None:  # every call is safe to send again (see Call.key), but to a server of plain HTTP
        return not speaks_plain_http(error)
    assert response is not None
    # a refused key (a 401, or the 429 of an address with too many refused keys, which carries
    # the same challenge) is refused again however often it is sent, and so is a create past the
    # tenant's quota: the one 429 without Retry-After
    status, headers = response.status_code, response.headers
    if status == 429 and "retry-after" not in headers:
        return False
    return status in policy.statuses and "www-authenticate" not in headers


def _service_of(response: httpx.Response | None, error: httpx.TransportError | None) -> str:
    """"the service at <scheme://host:port>" of the failed request."""
    failed: httpx.Response | httpx.TransportError | None = response if response is not None else error
    try:
        url = failed.request.url if failed is not None else None
    except RuntimeError:  # no request (never so for a sent one)
        url = None
    if url is None:
        return "the service"
    return f"the service at {url.scheme}://{url.netloc.decode('ascii')}"


def _failure(response: httpx.Response | None, error: httpx.TransportError | None) -> str:
    if response is None:
        return str(error) or type(error).__name__
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"{response.status_code} {detail if isinstance(detail, str) else response.reason_phrase}"


def connection_error(error: httpx.TransportError) -> APIConnectionError:
    """The SDK's error for a transport failure, naming the URL and, for a refused or unresolved
    connection, what to check."""
    try:
        request = error.request
        url = str(request.url)
        where = f"{request.method} {url}"
    except RuntimeError:  # raised outside a request (never by Client.send)
        url, where = None, "the service"
    reason = str(error) or type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"{where} timed out ({reason})", url)
    if speaks_plain_http(error):
        return APIConnectionError(f"{where} failed: the server there speaks plain HTTP, not TLS ({reason}); "
                                  "give the client an http:// URL", url)
    if isinstance(error, httpx.ConnectError):
        return APIConnectionError(
            f"cannot connect to {where} ({reason}): is a zoadamm service running there? "
            + (f"Start one with `{command}`, or give" if (command := start_command(url)) else "Give")
            + " the client the right URL", url)
    return APIConnectionError(f"the connection broke during {where} ({reason})", url)


def speaks_plain_http(error: httpx.TransportError) -> bool:
    """An https:// call answered in plain HTTP (as zoadamm-service serves): OpenSSL reads the
    answer as a record of an unknown version."""
    return isinstance(error, httpx.ConnectError) and "WRONG_VERSION_NUMBER" in str(error)


def start_command(url: str | None) -> str | None:
    """The command that starts a service where ``url`` points, when that is this machine; None
    for another host (nothing to start here)."""
    try:
        parsed = httpx.URL(url or DEFAULT_URL)
    except httpx.InvalidURL:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if parsed.host in ("127.0.0.1", "localhost"):
        return f"zoadamm-service --port {port}"
    if parsed.host == "::1":
        return f"zoadamm-service --host ::1 --port {port}"
    return None


def answered(call: Call, attempt: int, policy: RetryPolicy, response: httpx.Response, started: float | None = None):
    """The call's (fields, vectors) from ``response``, or None when it is to be sent again.

    A DELETE sent again, whose earlier try may have reached the service with its answer lost,
    that finds nothing is done, as the caller asked (a first try's 404 stays an error)."""
    if call.method == "DELETE" and attempt > 0 and response.status_code == 404:
        return {}, {}
    if should_retry(attempt, policy, response=response, started=started):
        return None
    return decode(response)


def check_open(client, http: httpx.Client | httpx.AsyncClient) -> None:
    """Raises ClientClosedError for a call on ``client`` after its close (httpx's own error is
    no ZoadammError)."""
    if http.is_closed:
        raise ClientClosedError(f"this {type(client).__name__} of {http.base_url} is closed; make a new one")


def closed_midway(client, http: httpx.Client | httpx.AsyncClient, call: Call, tried: bool) -> ClientClosedError:
    """The error for a call whose client was closed while it was under way (by another thread or
    task), which httpx refuses to send again with an error of its own; ``tried``: an earlier try
    went out, and may have reached the service with its answer lost."""
    what = f"this {type(client).__name__} of {http.base_url} was closed during {call.method} {call.path}"
    if tried and call.method != "GET":
        return ClientClosedError(
            f"{what}, which the service may have applied (a try went out, its answer was lost): the session's "
            "step says whether a tell was (sessions.get(session_id).step is past it), sessions.list() whether a "
            "create was; make a new client to ask")
    return ClientClosedError(f"{what}; make a new client")
