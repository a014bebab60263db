"""The one middleware every HTTP call passes, the per-step tell included, in one pass:

1. the request is timed, by route template (``telemetry.requests``), whatever answers it,
   waits its turn (``admission``; a POST once its body has arrived, ``admission.after_body``),
   and is given its budget of waiting on the store (``store.budget``);
2. the gates run in order, each may refuse the call with a JSON error: the API key
   (``auth.Authenticate``), then the key's rate limit (``ratelimit.Throttle``);
3. the app answers, and every answer gets the security headers (``headers_for``);
4. an unexpected error becomes a JSON 500 that is *answered* (no trace in the body), so the
   client's keep-alive connection stays usable; a client that hung up mid-request is no error
   (logged at info, counted as 499).

A gate is an object with ``async def check(scope) -> Refusal | None`` that may add to
``scope["state"]``; a gate may also wrap another (``ratelimit.LimitFailedKeys`` counts the 401s
of ``auth.Authenticate`` per client address).  ``headers_for`` sees the scope, so headers for the pages only (a
Content-Security-Policy) slot in there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import turns
from ..store import budget
from ..telemetry import requests as request_metrics
from .body import BodyBytes
from .jsontext import error_response

log = logging.getLogger("zoadamm.service")
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"),)
INTERNAL = "internal error; the service logged it"


@dataclass(frozen=True)
class Refusal:
    """A call a gate turns away: its status, the message, and headers to add."""

    status: int
    detail: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Gate(Protocol):
    async def check(self, scope: Scope) -> Refusal | None: ...


# a /v1 GET answers JSON or the binary frame, as Accept asks: a cache must keep the two apart;
# and it is a tenant's data, which no browser should keep on disk (POST answers are never cached)
READ_HEADERS = (*SECURITY_HEADERS, (b"vary", b"Accept"), (b"cache-control", b"no-store"))


def headers_for(scope: Scope) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer to this call gets."""
    return READ_HEADERS if scope["method"] == "GET" and scope["path"].startswith("/v1/") else SECURITY_HEADERS


async def send_error(scope: Scope, receive: Receive, send: Send, refusal: Refusal) -> None:
    """The refusal answered as the service's JSON error (``jsontext.error_response``), its
    headers added."""
    response = error_response(refusal.status, refusal.detail)
    response.raw_headers.extend(refusal.headers)
    await response(scope, receive, send)


def _headers_only(send: Send) -> Send:
    """``send`` with every body left out (its Content-Length stays: what a GET would send)."""
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return sending


class Turn(turns.Yieldable, Protocol):
    """One call's turn (``admission.Turn``): entered for the call, given back while it waits."""

    async def __aenter__(self) -> Refusal | None: ...

    async def __aexit__(self, *exc: object) -> None: ...


class Turns(Protocol):
    def turn(self, scope: Scope) -> Turn: ...


class Pipeline:
    def __init__(self, app: ASGIApp, gates: Sequence[Gate] = (), store_budget_s: float | None = None,
                 admission: Turns | None = None, body_bytes: BodyBytes | None = None) -> None:
        self.app = app
        self.gates = tuple(gates)
        self.store_budget_s = store_budget_s  # each call's time waiting on the store (``store.budget``)
        self.admission = admission  # how many calls run at once (``admission.Admission``)
        self.body_bytes = body_bytes  # the bytes of bodies held, each call's given back at its end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":  # every GET answers HEAD too (HTTP's rule): its headers, no body
            scope, send = {**scope, "method": "GET"}, _headers_only(send)
        start, status, started, extra = time.perf_counter(), 500, False, headers_for(scope)

        async def sending(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        turn = self.admission.turn(scope) if self.admission is not None else None
        try:
            if turn is not None:
                if scope["method"] == "POST":  # a body sent slowly must not hold a turn: taken after it;
                    # a lease's wait gives it back meanwhile (``turns.idle``)
                    scope.setdefault("state", {}).update(turn=turn, turn_due=True)
                else:
                    busy = await turn.__aenter__()
                    if busy is not None:
                        await send_error(scope, receive, sending, busy)
                        return
            if self.store_budget_s is not None:  # the turn's wait is not the store's: the budget leaves it out
                budget.start(self.store_budget_s)
            await self._answer(scope, receive, sending)
        except ClientDisconnect:  # the client hung up (a timeout, a cancelled call): nobody to answer
            # %r: a path is the client's text, and a line break in it would forge a log line
            log.info("the client left before %s %r was answered", scope.get("method"), scope.get("path"))
            status = 499  # as the request metrics count it (nginx's "client closed request")
        except Exception:
            log.exception("unexpected error answering %s %r", scope.get("method"), scope.get("path"))
            if started:
                raise  # the answer is half sent: only closing the connection can end it
            await send_error(scope, receive, sending, Refusal(500, INTERNAL))
        finally:
            if turn is not None:
                await turn.__aexit__(None, None, None)  # gives back the turn, if the call took one
            if self.body_bytes is not None and scope["method"] == "POST":
                self.body_bytes.release(scope)
            request_metrics.observe(scope, status, time.perf_counter() - start)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        for gate in self.gates:
            refusal = await gate.check(scope)
            if refusal is not None:
                await send_error(scope, receive, send, refusal)
                return
        await self.app(scope, receive, send)
