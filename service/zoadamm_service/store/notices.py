"""How a wait learns that a session's head moved: ``Store.wait_past`` in one place.

Three sources, one answer.  An append made by this process wakes its waits at once (``moved``);
so does a notice from another replica when the store has them (Redis pub/sub, ``_follow``); and
failing both (no notices, a lost subscription, a write that sends none) one task of the process
looks at the heads of the sessions waited on, every ``POLL_S``: one look per session whatever
its number of waits, and at most ``LOOKS_PER_S`` looks a second in all, so waits that nothing
wakes cost the store a bounded rate, not one look per wait.  The newest head each source
reported is remembered per session, so a move that happens before the wait begins is never
missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable

from .. import turns
from .history import Head

log = logging.getLogger("zoadamm.service")
POLL_S = 0.005  # the heads of the sessions waited on are looked at this often, when nothing woke them
LOOKS_PER_S = 1_000  # and no more often than this in all: with many sessions waited on, the looks spread out
REMEMBERED = 10_000  # sessions whose newest head is remembered (the oldest are forgotten)


class HeadNotices:
    def __init__(self, head: Callable[[str], Awaitable[Head]], poll_s: float | None = POLL_S,
                 notices: Callable[[], AsyncIterator[tuple[str, int]]] | None = None) -> None:
        """``head`` reads a session's head from the store; ``poll_s`` None: no other process
        writes the store, so a wait never needs to look.  ``notices`` subscribes to the other
        replicas' (session id, seq) of each step they append, followed from the first wait on."""
        self._head = head
        self._poll_s = poll_s
        self._notices = notices
        self._follower: asyncio.Task | None = None
        self._looker: asyncio.Task | None = None
        self._heads: OrderedDict[str, int] = OrderedDict()  # newest head heard of, per session
        self._answered: dict[str, int] = {}  # the seq a wait last found past in memory, per session
        self._events: dict[str, asyncio.Event] = {}
        self._waits: dict[str, int] = {}  # how many waits each session has now
        self._failures: dict[str, Exception] = {}  # what the last look at a waited session raised

    async def close(self) -> None:
        """Stop following the notices.  The cancel is sent until the follower ends: on Python
        3.11 a cancel that lands as a timeout inside the subscription's read fires is taken for
        that timeout, and the read goes on as if nothing was asked."""
        if self._looker is not None:
            self._looker.cancel()
        follower, self._follower = self._follower, None
        while follower is not None and not follower.done():
            follower.cancel()
            await asyncio.wait({follower}, timeout=0.1)
        if follower is not None and not follower.cancelled() and follower.exception() is not None:
            log.warning("notices of closed steps ended with %r", follower.exception())

    async def _follow(self) -> None:
        """Wake this process's waits as the other replicas' notices come; the waits look at the
        head all the same, which covers a gap in them."""
        assert self._notices is not None
        while True:
            try:
                async for session_id, seq in self._notices():
                    self.moved(session_id, seq + 1)
            except Exception as error:  # the looks cover the gap: log, and subscribe again
                log.warning("notices of closed steps stopped (%s: %s); retrying in 1 s", type(error).__name__, error)
            await asyncio.sleep(1.0)

    def moved(self, session_id: str, head: int) -> None:
        """The session's head is now at least ``head``: wake its waits."""
        if head > self._heads.get(session_id, -1):
            self._heads[session_id] = head
            self._answered.pop(session_id, None)
            self._heads.move_to_end(session_id)
            if len(self._heads) > REMEMBERED:
                self._heads.popitem(last=False)
        self._wake(session_id)

    def gone(self, session_id: str, error: Exception) -> None:
        """The session was deleted here: its waits raise ``error`` now, not at their timeout
        (the embedded store has no look to find it gone)."""
        if session_id in self._waits:
            self._failures[session_id] = error
            self._wake(session_id)

    async def wait_past(self, session_id: str, seq: int, timeout: float, turn: turns.Yieldable | None = None) -> bool:
        """True once the session's head is past ``seq``; False when ``timeout`` seconds pass
        first; ``turn`` is given back while it waits.  Raises what the store's ``head`` raises."""
        if self._notices is not None and self._follower is None:
            # a context of its own: it outlives the call that starts it, and that call's budget
            self._follower = asyncio.create_task(self._follow(), context=contextvars.Context())
        if self._heads.get(session_id, -1) > seq:
            if self._answered.get(session_id) != seq:
                self._answered[session_id] = seq
                return True
            # asked again about the step memory says closed: the store lost steps (a Redis that
            # restarted without its newest writes), and memory must not answer at once forever
            self._heads.pop(session_id, None)
        self._answered.pop(session_id, None)
        async with turns.idle(turn):  # a wait is no work: the call's turn goes to another meanwhile
            return await self._wait(session_id, seq, timeout)

    async def _wait(self, session_id: str, seq: int, timeout: float) -> bool:
        end = time.monotonic() + timeout
        self._waits[session_id] = self._waits.get(session_id, 0) + 1
        if self._poll_s is not None and (self._looker is None or self._looker.done()):
            self._looker = asyncio.create_task(self._look(), context=contextvars.Context())
        try:
            while self._heads.get(session_id, -1) <= seq:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                event = self._events.setdefault(session_id, asyncio.Event())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):  # no task per wait, unlike wait_for
                        await event.wait()
                failure = self._failures.get(session_id)
                if failure is not None and self._heads.get(session_id, -1) <= seq:
                    raise failure
            return True
        finally:
            self._waits[session_id] -= 1
            if not self._waits[session_id]:
                del self._waits[session_id]
                self._failures.pop(session_id, None)

    async def _look(self) -> None:
        """While any session is waited on: read the head of each, then sleep out the tick."""
        assert self._poll_s is not None
        while self._waits:
            started, waited = time.monotonic(), list(self._waits)
            for session_id in waited:
                try:
                    head = (await self._head(session_id)).seq
                except Exception as error:  # its waits raise it: a store away, a session deleted
                    self._failures[session_id] = error
                    self._wake(session_id)
                    continue
                self._failures.pop(session_id, None)
                if head > self._heads.get(session_id, -1):
                    self.moved(session_id, head)
            tick = max(self._poll_s, len(waited) / LOOKS_PER_S)
            await asyncio.sleep(max(0.0, started + tick - time.monotonic()))

    def _wake(self, session_id: str) -> None:
        event = self._events.pop(session_id, None)
        if event is not None:
            event.set()
