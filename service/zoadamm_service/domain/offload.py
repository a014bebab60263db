"""The one size rule for work that leaves the event loop: below ``THREAD_MIN_WORK`` a piece of
work costs less than a thread hop and runs inline; above it, it runs on a worker thread, so
``/healthz`` and every other session keep being answered while a large session is created,
asked, told, checkpointed or deleted.

Work is measured per session, as one step of it costs: q * (d + 1024) for ZO (setting up a
direction is counted as 1,024 values), d for FO.  Every O(d) piece of a session's
work (starting it, encoding its checkpoint, checking a vector) follows the session's size, so a
session whose steps leave the loop has all of its work leave it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from zoadamm import SessionConfig

# a step of q = 64 at d = 1 runs in a thread as well as one of q = 1 at 2.8M
THREAD_MIN_WORK = 1 << 16
DIRECTION_OVERHEAD = 1024
T = TypeVar("T")


def work_of(config: SessionConfig) -> int:
    """What one step or one ask with vectors costs, in units of one value of one direction."""
    if config.takes_values:
        return config.directions * (config.dim + DIRECTION_OVERHEAD)
    return config.dim


async def run_sized(work: int, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, on a worker thread when ``work`` is large enough to matter."""
    if work >= THREAD_MIN_WORK:
        return await anyio.to_thread.run_sync(fn, *args)
    return fn(*args)
