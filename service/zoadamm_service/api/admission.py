"""How many ``/v1`` calls one service process works on at once (``ZOADAMM_MAX_CALLS``); the
others wait their turn, first come first served, and one that cannot start within
``ZOADAMM_QUEUE_TIMEOUT_S`` gets 503 with Retry-After, which the SDK's retries honour.

Why: every call in progress interleaves its awaits on one event loop.  With a thousand calls in
progress each Redis reply waits behind all the others' work, so a healthy Redis looked hung
(each call's store budget, ``store.budget``, ran out while the loop was busy) and calls failed
with 503 from a store that was answering in microseconds.  Waiting for a turn is not waiting on
the store: the budget starts once the call has its turn.
"""

from __future__ import annotations

import asyncio

from starlette.types import Scope

from ..errors import ServiceBusy
from .auth import PROTECTED
from .pipeline import Refusal


class Admission:
    def __init__(self, max_calls: int, queue_timeout_s: float, retry_after_s: int) -> None:
        self.max_calls = max_calls
        self.queue_timeout_s = queue_timeout_s
        self._turns = asyncio.Semaphore(max_calls)  # FIFO: waiters are woken in order
        self.busy = Refusal(503, f"the service is busy: {max_calls} calls in progress (ZOADAMM_MAX_CALLS) and "
                                  f"this one did not get its turn within {queue_timeout_s:g} s "
                                  "(ZOADAMM_QUEUE_TIMEOUT_S); retry", ((b"retry-after", str(retry_after_s).encode()),))

    def turn(self, scope: Scope) -> Turn:
        """``async with admission.turn(scope) as busy``: None once the call has its turn (held
        for the block), or the refusal of a call that waited too long.  Calls outside ``/v1``
        (``/healthz``, ``/metrics``) never wait."""
        return Turn(self, scope)


class Turn:
    """One call's turn (``Admission.turn``); a class rather than a generator: every call takes one."""

    __slots__ = ("admission", "scope", "held")

    def __init__(self, admission: Admission, scope: Scope) -> None:
        self.admission, self.scope, self.held = admission, scope, False

    async def __aenter__(self) -> Refusal | None:
        if not self.scope["path"].startswith(PROTECTED):
            return None
        turns = self.admission._turns
        if turns.locked():  # no turn free, or calls waiting before this one: wait in line
            try:
                async with asyncio.timeout(self.admission.queue_timeout_s):
                    await turns.acquire()
            except TimeoutError:
                return self.admission.busy
        else:  # a free turn is taken at once, with no timer to set and cancel
            await turns.acquire()
        self.held = True
        return None

    async def __aexit__(self, *exc: object) -> None:
        if self.held:
            self.held = False
            self.admission._turns.release()

    def give_back(self) -> bool:
        """Give the turn back while the call waits (``turns.idle``); False when it holds none."""
        if not self.held:
            return False
        self.held = False
        self.admission._turns.release()
        return True

    async def take(self) -> None:
        """The turn, in line (a POST's once its body is in; again after ``give_back``).  Raises
        ServiceBusy (503 with Retry-After) when it does not come in time."""
        if await self.__aenter__() is not None:
            raise ServiceBusy(self.admission.busy.detail)


async def after_body(scope: Scope) -> None:
    """Take a POST's turn once its body has arrived (``Pipeline`` leaves it in the call's state):
    a client that sends its body slowly, or not at all, holds a connection but no turn, so a
    few dozen such clients cannot keep every other call waiting.  Raises ServiceBusy as
    ``Turn.take``."""
    state = scope.get("state")
    if state and state.pop("turn_due", False):
        await state["turn"].take()  # given back by the pipeline when the call ends
