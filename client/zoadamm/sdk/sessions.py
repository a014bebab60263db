"""``client.sessions``: one method per API call of a ``Client``, and the same awaitable on an
``AsyncClient`` (see ``calls`` for the arguments)."""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from . import calls
from .models import Parameters, Session, SessionSummary, StepInfo, TellResult, Trace
from .settings import SessionSettings, Unpack


class Runs(Protocol):
    """What ``Sessions`` needs of its client (``Client``): no import of it, which imports this."""

    def run(self, parsed: calls.Parsed) -> Any: ...


class RunsAsync(Protocol):
    """What ``AsyncSessions`` needs of its client (``AsyncClient``)."""

    async def run(self, parsed: calls.Parsed) -> Any: ...


class Sessions:
    """``client.sessions``: one method per API call (see ``calls`` for the arguments).

    Every method raises ``zoadamm.sdk.APIError`` subclasses: ``NotFoundError`` for an unknown
    id, ``UnprocessableEntityError`` naming each refused field and why, ``AuthenticationError``
    for a missing or refused API key, ``APIConnectionError`` when the service cannot be reached
    (after the retries), ``ForeignServerError`` when another HTTP server answers instead.
    """

    def __init__(self, client: Runs) -> None:
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

    def __init__(self, client: RunsAsync) -> None:
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
