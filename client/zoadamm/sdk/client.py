"""Sync and async HTTP clients: ``Client(...).sessions.create(dim=...)`` and friends.

Both send binary frames by default (vectors as raw float32), send the API key as
``Authorization: Bearer`` (``api_key``, else ``$ZOADAMM_API_KEY``), retry connection errors, 429
with Retry-After (not a tenant's quota), 500, 502, 503 and 504 with capped jittered backoff
(every POST carries an Idempotency-Key that its retries reuse, and tells are exactly-once by
step, so a retried call is applied once), and accept an injected ``httpx.Client`` /
``httpx.AsyncClient`` (Starlette's TestClient is one).
"""

from __future__ import annotations

import time
from asyncio import AbstractEventLoop, get_running_loop

import anyio
import httpx

from .._validate import InvalidArgument
from . import calls, forks
from ._http import Call, RetryPolicy, answered, build, check_open, closed_midway, connection_error, should_retry
from .errors import APIError, EventLoopError
from .options import DEFAULT_URL, checked_key, checked_options, tls_context
from .sessions import AsyncSessions, Sessions

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

    def __reduce__(self):
        # its connections cannot cross to another process; the key must not travel in a pickle
        raise TypeError(f"a {type(self).__name__} holds open connections and cannot be pickled: make one in "
                        "each process, with the same base_url and api_key")

    def _parsed(self, parsed: calls.Parsed, answer: tuple[dict, dict]):
        """``parsed``'s answer read; JSON of another shape (a server that is not zoadamm's) is an
        APIError that says so, not a KeyError from inside the SDK."""
        call, parse = parsed
        try:
            return parse(*answer)
        except InvalidArgument:
            raise
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as error:  # ValueError: numpy's
            raise APIError(f"{self._base_url} answered {call.method} {call.path} with JSON that is no zoadamm "
                           f"answer ({type(error).__name__}: {error}): is a zoadamm service there?") from error


class _Tries:
    """One call's tries, for the two clients' send loops, which differ only in how they send and
    wait: the request to send, a response's answer (None: send again), and the wait before the
    next try after a failure, or the error the caller gets when there is none."""

    __slots__ = ("client", "call", "policy", "attempt", "started")

    def __init__(self, client: Client | AsyncClient, call: Call, policy: RetryPolicy) -> None:
        self.client, self.call, self.policy = client, call, policy
        self.attempt, self.started = 0, time.monotonic()  # the policy's window counts from the first try

    def request(self) -> httpx.Request:
        client = self.client
        return build(client.http, self.call, client.binary, client._api_key, client._urls)

    def answer(self, response: httpx.Response):
        return answered(self.call, self.attempt, self.policy, response, self.started)

    def wait(self, failed: httpx.Response | Exception) -> float:
        """Seconds before the next try after ``failed``: an answer ``answer`` refused, or what
        sending raised (httpx's RuntimeError for a client closed meanwhile: no retry reaches the
        service)."""
        if isinstance(failed, httpx.TransportError) and not should_retry(
                self.attempt, self.policy, error=failed, started=self.started):
            raise connection_error(failed) from failed
        if isinstance(failed, RuntimeError):
            if not self.client.http.is_closed:
                raise failed
            raise closed_midway(self.client, self.client.http, self.call, self.attempt > 0) from None
        wait = self.policy.delay(self.attempt, failed if isinstance(failed, httpx.Response) else None, self.started)
        self.attempt += 1
        return wait


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
        tries = _Tries(self, call, policy)
        while True:
            try:
                response = self.http.send(tries.request())
            except (httpx.TransportError, RuntimeError) as error:
                wait = tries.wait(error)
            else:
                if (result := tries.answer(response)) is not None:
                    return result
                wait = tries.wait(response)
            time.sleep(wait)  # outside the except: an interrupt meanwhile is not "during" the failure

    def run(self, parsed: calls.Parsed):
        return self._parsed(parsed, self.send(parsed[0]))

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
    arguments, answers and errors.  It belongs to the event loop of its first call, which holds
    its connections: a call or ``aclose()`` from another raises ``EventLoopError``."""

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
        self._loop: AbstractEventLoop | None = None  # the event loop of the first call

    async def send(self, call: Call, policy: RetryPolicy | None = None):
        policy = policy or self.retry
        if self.forked:
            self.http = forks.reopened(self, self._owned and self._own_transport, self._make_http)
            self._loop = None  # this process's loop is another
        check_open(self, self.http)
        if (loop := _asyncio_loop()) is not self._loop and loop is not None:
            if self._loop is not None:
                raise self._other_loop()
            self._loop = loop
        tries = _Tries(self, call, policy)
        while True:
            try:
                response = await self.http.send(tries.request())
            except (httpx.TransportError, RuntimeError) as error:
                wait = tries.wait(error)
            else:
                if (result := tries.answer(response)) is not None:
                    return result
                wait = tries.wait(response)
            await anyio.sleep(wait)  # asyncio's or trio's, whichever runs the call

    async def run(self, parsed: calls.Parsed):
        return self._parsed(parsed, await self.send(parsed[0]))

    async def health(self, *, retry: bool = True) -> dict:
        """As ``Client.health``."""
        return (await self.send(Call("GET", "/healthz"), None if retry else NO_RETRY))[0]

    def _other_loop(self, closing: bool = False) -> EventLoopError:
        what = "cannot be closed here: it first ran" if closing else "first ran"
        return EventLoopError(
            f"this AsyncClient of {self.http.base_url} {what} on another event loop (an asyncio.run that has "
            "ended, or another thread's), which holds its connections: an AsyncClient belongs to one event loop; "
            "make one in each asyncio.run, as `async with zoadamm.AsyncClient(url) as client:` inside it")

    async def aclose(self) -> None:
        """Close the connections, in the event loop that made them (``EventLoopError`` from another)."""
        if self._owned:
            if self._loop is not None and not self.http.is_closed and _asyncio_loop() is not self._loop:
                raise self._other_loop(closing=True)
            await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def checked_client(client) -> Client:
    """``client``, which a run needs to be a zoadamm ``Client`` (a URL is a common slip, and so is
    an ``AsyncClient``: a run's steps are synchronous calls)."""
    if isinstance(client, AsyncClient):
        raise InvalidArgument(
            "client must be a zoadamm Client, got AsyncClient: runs (minimize, RemoteOptimizer) are synchronous; "
            "from async code, run one in a thread, with a Client it makes and closes: await "
            f"asyncio.to_thread(zoadamm.minimize, f, x0, base_url={client._base_url!r}, ...)")
    if not isinstance(client, Client):
        raise InvalidArgument(f"client must be a zoadamm Client (Client(base_url)), got {type(client).__name__}")
    return client


def _asyncio_loop() -> AbstractEventLoop | None:
    """The running asyncio loop; None under another async library (trio, through httpx's anyio),
    whose runs this client does not tell apart."""
    try:
        return get_running_loop()
    except RuntimeError:
        return None
