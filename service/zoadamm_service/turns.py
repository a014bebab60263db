"""A call's turn (``api.admission``) given back while the call only waits.

A lease's wait (``Store.wait_past``) may last 30 s and does no work meanwhile; holding its turn
through it let one tenant's waiting workers fill ``ZOADAMM_MAX_CALLS`` and keep every other
tenant's calls queued for seconds.  The pipeline leaves a POST's turn in the call's ASGI state
(``scope["state"]["turn"]``); a route whose call may wait hands it, as the opaque ``Yieldable``
below, to the lease (``LeaseAsk.turn``), and the store's wait gives it back for its length and
takes it again, in line, before it goes on.  Neither the store nor the domain knows what a turn
is: they only give it back while they wait.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol


class Yieldable(Protocol):
    def give_back(self) -> bool: ...

    async def take(self) -> None: ...


@contextlib.asynccontextmanager
async def idle(turn: Yieldable | None) -> AsyncIterator[None]:
    """Inside, the calling task does not hold ``turn``; after, it holds it again (which may wait
    in line, and raise as a turn that does not come in time does).  None: nothing to give back."""
    if turn is None or not turn.give_back():
        yield
        return
    try:
        yield
    finally:
        await turn.take()
