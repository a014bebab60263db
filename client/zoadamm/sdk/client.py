"""Sync and async HTTP clients: ``Client(...).sessions.create(dim=...)`` and friends.

Both send binary frames by default (vectors as raw float32), send the API key as
``Authorization: Bearer`` (``api_key``, else ``$ZOADAMM_API_KEY``), retry connection errors, 429
with Retry-After (not a tenant's quota), 500, 502, 503 and 504 with capped jittered backoff
(every POST carries an Idempotency-Key that its retries reuse, and tells are exactly-once by
step, so a retried call is applied once), and accept an injected ``httpx.Client`` /
``httpx.AsyncClient`` (Starlette's TestClient is one).
"""

from __future__ import annotations

import asyncio
import builtins
import time

import httpx

from .._validate import InvalidArgument
from . import calls, forks
from ._http import Call, RetryPolicy, answered, build, check_open, connection_error, should_retry
from .models import Parameters, Session, SessionSummary, StepInfo, TellResult, Trace
from .options import DEFAULT_URL, checked_key, checked_options, tls_context
from .settings import SessionSettings, Unpack

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
NO_RETRY = RetryPolicy(max_retries=0)


class _Base:
    forked: bool  # used in a child process forked after it was made (``forks``)

    def __init__(self, binary: bool, max_retries: int, api_key: str | None, base_url: str, window: float) -> None:
        forks.watch(self)
        self.binary = binary
        self._base_url = base_url
        self.retry = RetryPolicy(max_retries=int(max_retries), window=float(window))
        # kept out of every repr, log line and exception: only build() reads it
        self._api_key = api_key
        self._urls: dict = {}  # merged request URLs (``_http.request_url``)

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"{type(self).__name__}(base_url={self._base_url!r}, api_key={key})"


class Client(_Base):
    """The service at ``base_url``: ``client.sessions`` holds one method per API call, and
    ``health()`` checks that a zoadamm service answers there (docs/sdk.md)."""

    def __init__(
        self, base_url: str = DEFAULT_URL, *, api_key: str | None = None, http_client: httpx.Client | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, max_retries: int = RetryPolicy.max_retries,
        binary: bool = True, transport: httpx.BaseTransport | None = None, retry_window: float = 0.0,
    ) -> None:
        """``transport``: the httpx transport of the client made here (httpx's own by default).
        ``retry_window``: seconds a call keeps retrying a service that is away (``RetryPolicy.window``)."""
        api_key = checked_key(api_key)  # before a connection pool exists to leak
        checked_options(base_url, timeout, max_retries, http_client, retry_window=retry_window)
        self._owned, self._own_transport = http_client is None, transport is None  # a given one's pool is its own
        self._make_http = lambda: httpx.Client(base_url=base_url, timeout=timeout, verify=tls_context(),
                                               transport=transport)
        self.http = http_client or self._make_http()
        super().__init__(binary, max_retries, api_key, str(self.http.base_url), retry_window)
        self.sessions = Sessions(self)

    def send(self, call: Call, policy: RetryPolicy | None = None):
        policy = policy or self.retry
        if self.forked:
            self.http = forks.reopened(self, self._owned and self._own_transport, self._make_http)
        check_open(self, self.http)
        attempt, started = 0, time.monotonic()  # the policy's window counts from the first try
        while True:
            failed: httpx.Response | None = None  # the answer to retry, None for a transport error
            try:
                response = self.http.send(build(self.http, call, self.binary, self._api_key, self._urls))
            except httpx.TransportError as error:
                if not should_retry(attempt, policy, error=error, started=started):
                    raise connection_error(error) from error
            else:
                if (result := answered(call, attempt, policy, response, started)) is not None:
                    return result
                failed = response
            time.sleep(policy.delay(attempt, failed, started))
            attempt += 1

    def run(self, parsed: calls.Parsed):
        call, parse = parsed
        return parse(*self.send(call))

    def health(self, *, retry: bool = True) -> dict:
        """The service's ``/healthz`` answer.  ``retry=False`` makes one attempt, so a service
        that is not there is reported at once (``APIConnectionError``, naming the URL) instead
        of after the retries' backoff.

        Raises:
            zoadamm.sdk.APIConnectionError: nothing answers at the URL.
            zoadamm.sdk.ForeignServerError: another HTTP server answers there.
            zoadamm.sdk.NotFoundError: a service answers, but the URL is not its root.
        """
        return self.send(Call("GET", "/healthz"), None if retry else NO_RETRY)[0]

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncClient(_Base):
    """``Client``'s calls as coroutines (``await client.sessions.create(...)``), the same
    arguments, answers and errors."""

    def __init__(
        self, base_url: str = DEFAULT_URL, *, api_key: str | None = None,
        http_client: httpx.AsyncClient | None = None, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = RetryPolicy.max_retries, binary: bool = True,
        transport: httpx.AsyncBaseTransport | None = None, retry_window: float = 0.0,
    ) -> None:
        """``transport``, ``retry_window``: as ``Client``'s."""
        api_key = checked_key(api_key)
        checked_options(base_url, timeout, max_retries, http_client, asynchronous=True, retry_window=retry_window)
        self._owned, self._own_transport = http_client is None, transport is None  # a given one's pool is its own
        self._make_http = lambda: httpx.AsyncClient(base_url=base_url, timeout=timeout, verify=tls_context(),
                                                    transport=transport)
        self.http = http_client or self._make_http()
        super().__init__(binary, max_retries, api_key, str(self.http.base_url), retry_window)
        self.sessions = AsyncSessions(self)

    async def send(self, call: Call, policy: RetryPolicy | None = None):
        policy = policy or self.retry
        if self.forked:
            self.http = forks.reopened(self, self._owned and self._own_transport, self._make_http)
        check_open(self, self.http)
        attempt, started = 0, time.monotonic()  # the policy's window counts from the first try
        while True:
            failed: httpx.Response | None = None  # the answer to retry, None for a transport error
            try:
                response = await self.http.send(build(self.http, call, self.binary, self._api_key, self._urls))
            except httpx.TransportError as error:
                if not should_retry(attempt, policy, error=error, started=started):
                    raise connection_error(error) from error
            else:
                if (result := answered(call, attempt, policy, response, started)) is not None:
                    return result
                failed = response
            await asyncio.sleep(policy.delay(attempt, failed, started))
            attempt += 1

    async def run(self, parsed: calls.Parsed):
        call, parse = parsed
        return parse(*await self.send(call))

    async def health(self, *, retry: bool = True) -> dict:
        """As ``Client.health``."""
        return (await self.send(Call("GET", "/healthz"), None if retry else NO_RETRY))[0]

    async def aclose(self) -> None:
        if self._owned:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def checked_client(client) -> Client:
    """``client``, which a run needs to be a zoadamm ``Client`` (a URL is a common slip)."""
    if not isinstance(client, Client):
        raise InvalidArgument(f"client must be a zoadamm Client (Client(base_url)), got {type(client).__name__}")
    return client


class Sessions:
    """``client.sessions``: one method per API call (see ``calls`` for the arguments).

    Every method raises ``zoadamm.sdk.APIError`` subclasses: ``NotFoundError`` for an unknown
    id, ``UnprocessableEntityError`` naming each refused field and why, ``AuthenticationError``
    for a missing or refused API key, ``APIConnectionError`` when the service cannot be reached
    (after the retries), ``ForeignServerError`` when another HTTP server answers instead.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, dim: int, *, x0=None, name: str | None = None, **settings: Unpack[SessionSettings]) -> Session:
        """Create a session of ``dim`` parameters.  ``settings``: ``SessionSettings`` (method, lr,
        mu, directions, seed, schedule, constraint, ...); a name no session has is refused
        (``zoadamm.InvalidArgument``) before any request."""
        return self._client.run(calls.create(dim, x0=x0, name=name, **settings))

    def get(self, session_id: str) -> Session:
        """The session's ``Session``: its config, current step, lr, mu and recent metrics."""
        return self._client.run(calls.get(session_id))

    def list(self, offset: int = 0, limit: int = 100) -> builtins.list[SessionSummary]:
        """``SessionSummary`` rows (id, name, created, config), oldest first, ``limit`` at most."""
        return self._client.run(calls.list_sessions(offset, limit))

    def delete(self, session_id: str) -> None:
        """Delete the session and everything stored for it; later calls with its id get 404."""
        self._client.run(calls.delete(session_id))

    def ask(self, session_id: str, x=None, vectors: bool = False, *, lease: int | None = None,
            worker: str | None = None, wait: float | None = None, since: int | None = None,
            until: int | None = None) -> StepInfo:
        """The open step (``StepInfo``).  ``x`` sets the parameters before step 0 and must equal
        them after; ``vectors=True`` brings the directions too.  With ``lease=k``: up to k
        directions leased to ``worker``, waiting up to ``wait`` seconds while others hold them
        all, nothing on step ``until`` or later, and the steps closed since step ``since``."""
        return self._client.run(calls.ask(session_id, x, vectors, lease=lease, worker=worker, wait=wait,
                                          since=since, until=until))

    def tell(self, session_id: str, step: int, *, f_x=None, f_plus=None, f_minus=None, indices=None,
             gradient=None, answer: str = "x", lease: int | None = None, worker: str | None = None,
             wait: float | None = None, until: int | None = None) -> TellResult:
        """Report step ``step`` (``TellResult``).  ZO: ``f_x``, ``f_plus`` (and ``f_minus`` for
        central differences; ``indices`` when reporting only some directions); FO: ``gradient``.
        ``answer``: "x" (the new parameters) or "checksum" (a CRC of x and the coefficients).
        With ``lease=k`` (answer="checksum"): also the steps closed since this one and
        ``worker``'s lease on the next (``wait``, ``until`` as in ``ask``), in one round trip."""
        return self._client.run(calls.tell(
            session_id, step, f_x=f_x, f_plus=f_plus, f_minus=f_minus, indices=indices, gradient=gradient,
            answer=answer, lease=lease, worker=worker, wait=wait, until=until))

    def report(self, session_id: str, value: float, **metrics: float) -> dict:
        return self._client.run(calls.report(session_id, value, **metrics))

    def history(self, session_id: str, last: int | None = None) -> builtins.list[dict]:
        """The metric history (only the last ``last`` reports when given), oldest first: every
        page, following the service's cursors."""
        items, cursor = self._client.run(calls.history_page(session_id, last))
        while cursor is not None:
            page, cursor = self._client.run(calls.history_page(session_id, cursor=cursor))
            items += page
        return items

    def parameters(self, session_id: str) -> Parameters:
        return self._client.run(calls.parameters(session_id))

    def trace(self, session_id: str, since: int = 0, tail: int | None = None) -> Trace:
        """The service's per-step trace (``models.Trace``), from step ``since`` on."""
        return self._client.run(calls.trace(session_id, since, tail))


class AsyncSessions:
    """``async_client.sessions``: the same methods as ``Sessions``, awaitable."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, dim: int, *, x0=None, name: str | None = None,
                     **settings: Unpack[SessionSettings]) -> Session:
        return await self._client.run(calls.create(dim, x0=x0, name=name, **settings))

    async def get(self, session_id: str) -> Session:
        return await self._client.run(calls.get(session_id))

    async def list(self, offset: int = 0, limit: int = 100) -> builtins.list[SessionSummary]:
        return await self._client.run(calls.list_sessions(offset, limit))

    async def delete(self, session_id: str) -> None:
        await self._client.run(calls.delete(session_id))

    async def ask(self, session_id: str, x=None, vectors: bool = False, *, lease: int | None = None,
                  worker: str | None = None, wait: float | None = None, since: int | None = None,
                  until: int | None = None) -> StepInfo:
        return await self._client.run(calls.ask(session_id, x, vectors, lease=lease, worker=worker, wait=wait,
                                                since=since, until=until))

    async def tell(self, session_id: str, step: int, *, f_x=None, f_plus=None, f_minus=None, indices=None,
                   gradient=None, answer: str = "x", lease: int | None = None, worker: str | None = None,
                   wait: float | None = None, until: int | None = None) -> TellResult:
        return await self._client.run(calls.tell(
            session_id, step, f_x=f_x, f_plus=f_plus, f_minus=f_minus, indices=indices, gradient=gradient,
            answer=answer, lease=lease, worker=worker, wait=wait, until=until))

    async def report(self, session_id: str, value: float, **metrics: float) -> dict:
        return await self._client.run(calls.report(session_id, value, **metrics))

    async def history(self, session_id: str, last: int | None = None) -> builtins.list[dict]:
        """The metric history, every page (as ``Sessions.history``)."""
        items, cursor = await self._client.run(calls.history_page(session_id, last))
        while cursor is not None:
            page, cursor = await self._client.run(calls.history_page(session_id, cursor=cursor))
            items += page
        return items

    async def parameters(self, session_id: str) -> Parameters:
        return await self._client.run(calls.parameters(session_id))

    async def trace(self, session_id: str, since: int = 0, tail: int | None = None) -> Trace:
        return await self._client.run(calls.trace(session_id, since, tail))
