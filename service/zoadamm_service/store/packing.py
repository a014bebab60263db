"""Commands packed by hiredis (C) instead of redis-py's asyncio connection's Python packer, the
bytes the same: the append script's two dozen keys and arguments are packed on every tell.

Only commands of small arguments go this way.  A large value (a checkpoint) is passed as a
memoryview, which redis-py's own packer sends as a piece of its own rather than copying it into
one buffer (``RedisStore._staged``).  Anything hiredis does not take (a bytearray, a value that
is no Redis argument) goes to redis-py's packer, which packs it or raises its own error.

The per-step script's small commands go out on the store's script lane (``script_lane``).
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
        packed = pack_small(args)
        return super().pack_command(*args) if packed is None else [packed]  # type: ignore[misc]


def pack_small(args: tuple[Any, ...]) -> bytes | None:
    """The command packed by hiredis when it is one of small arguments, else None."""
    first = args[0]
    if type(first) is str and " " not in first and all(type(a) not in _SIZED or len(a) <= SMALL for a in args):
        try:
            return hiredis.pack_command(args)
        except TypeError:
            pass
    return None


def packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """``connection_class`` with commands packed by hiredis."""
    return type(f"Hiredis{connection_class.__name__}", (HiredisPacking, connection_class), {})
