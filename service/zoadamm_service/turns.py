"""A call's turn (``api.admission``) given back while the call only waits.

A lease's wait (``Store.wait_past``) may last 30 s and does no work meanwhile; holding its turn
through it let one tenant's waiting workers fill ``ZOADAMM_MAX_CALLS`` and keep every other
tenant's calls queued for seconds.  The pipeline names the call's turn here; a wait gives it back
for its length and takes it again, in line, before it goes on.  Neither the store nor the domain
knows about admission: they only say when they wait.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Protocol


class Yieldable(Protocol):
    def give_back(self) -> bool: ...

    async def take(self) -> None: ...


_current: ContextVar[Yieldable | None] = ContextVar("turn", default=None)


def hold(turn: Yieldable) -> None:
    """The calling task's turn, for ``idle`` to give back."""
    _current.set(turn)


@contextlib.asynccontextmanager
async def idle() -> AsyncIterator[None]:
    """Inside, the calling task holds no turn; after, it holds one again (which may wait in
    line, and raise as a turn that does not come in time does)."""
    turn = _current.get()
    if turn is None or not turn.give_back():
        yield
        return
    try:
        yield
    finally:
        await turn.take()
