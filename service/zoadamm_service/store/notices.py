"""How a wait learns that a session's head moved: ``Store.wait_past`` in one place.

Three sources, one answer.  An append made by this process wakes its waits at once (``moved``);
so does a notice from another replica when the store has them (Redis pub/sub, ``follow``); and
failing both (no notices, a lost subscription, a write that sends none) the wait looks at the
store's head every ``POLL_S``.  The newest head each source reported is remembered per session,
so a move that happens before the wait begins is never missed.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable

from .. import turns

log = logging.getLogger("zoadamm.service")
POLL_S = 0.005  # a waiting call looks at the store this often when nothing woke it
REMEMBERED = 10_000  # sessions whose newest head is remembered (the oldest are forgotten)


class HeadNotices:
    def __init__(self, head: Callable[[str], Awaitable[int]], poll_s: float | None = POLL_S,
                 notices: Callable[[], AsyncIterator[tuple[str, int]]] | None = None) -> None:
        """``head`` reads a session's head from the store; ``poll_s`` None: no other process
        writes the store, so a wait never needs to look.  ``notices`` subscribes to the other
        replicas' (session id, seq) of each step they append, followed from the first wait on."""
        self._head = head
        self._poll_s = poll_s
        self._notices = notices
        self._follower: asyncio.Task | None = None
        self._heads: OrderedDict[str, int] = OrderedDict()  # newest head heard of, per session
        self._events: dict[str, asyncio.Event] = {}

    async def close(self) -> None:
        """Stop following the notices.  The cancel is sent until the follower ends: on Python
        3.11 a cancel that lands as a timeout inside the subscription's read fires is taken for
        that timeout, and the read goes on as if nothing was asked."""
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
            self._heads.move_to_end(session_id)
            if len(self._heads) > REMEMBERED:
                self._heads.popitem(last=False)
        event = self._events.pop(session_id, None)
        if event is not None:
            event.set()

    async def wait_past(self, session_id: str, seq: int, timeout: float) -> bool:
        """True once the session's head is past ``seq``; False when ``timeout`` seconds pass
        first.  Raises what the store's ``head`` raises."""
        if self._notices is not None and self._follower is None:
            # a context of its own: it outlives the call that starts it, and that call's budget
            self._follower = asyncio.create_task(self._follow(), context=contextvars.Context())
        if self._heads.get(session_id, -1) > seq:
            return True
        async with turns.idle():  # a wait is no work: the call's turn goes to another meanwhile
            return await self._wait(session_id, seq, timeout)

    async def _wait(self, session_id: str, seq: int, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while self._heads.get(session_id, -1) <= seq:
            left = end - time.monotonic()
            if left <= 0:
                return False
            event = self._events.setdefault(session_id, asyncio.Event())
            nap = left if self._poll_s is None else min(left, self._poll_s)
            try:
                async with asyncio.timeout(nap):  # no task per look, unlike wait_for
                    await event.wait()
            except TimeoutError:
                # each look answered gives the call its store budget back (``budget``): the looks
                # of a long wait do not add up to it
                if self._poll_s is not None and await self._head(session_id) > seq:
                    return True
        return True
