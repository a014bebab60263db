"""Commands packed by hiredis (C) instead of redis-py's asyncio connection's Python packer, the
bytes the same: the append script's two dozen keys and arguments are packed on every tell.

Only commands of small arguments go this way: redis-py sends a large value (a checkpoint) as a
piece of its own rather than copying it into one buffer, and so it still does.  Anything hiredis
does not take (a bytearray, a value that is no Redis argument) goes to redis-py's packer, which
packs it or raises its own error.

The write itself stays redis-py's, on a task of its own (``asyncio.wait_for``): writes made
inline, as each call reaches them, measured more Redis CPU per step (``docs/benchmarks.md``):
Redis then wakes for one command at a time rather than for the burst of a loop iteration.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection

SMALL = 6000  # bytes: redis-py's own cut-off for a piece of its own
_SIZED = (bytes, str, memoryview)


class HiredisPacking:
    """A mixin for a redis-py asyncio connection class (``packing``)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if type(first) is str and " " not in first and all(type(a) not in _SIZED or len(a) <= SMALL for a in args):
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        return super().pack_command(*args)  # type: ignore[misc]


def packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """``connection_class`` with commands packed by hiredis."""
    return type(f"Hiredis{connection_class.__name__}", (HiredisPacking, connection_class), {})
