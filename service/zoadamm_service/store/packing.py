"""redis-py's asyncio connection with less CPU per command (``packing`` makes the class).

Commands are packed by hiredis (C) instead of redis-py's Python packer, the bytes the same: the
append script's two dozen keys and arguments are packed on every tell.  Only commands of small
arguments go this way: redis-py sends a large value (a checkpoint) as a piece of its own rather
than copying it into one buffer, and so it still does.  Anything hiredis does not take (a
bytearray, a value that is no Redis argument) goes to redis-py's packer, which packs it or
raises its own error.

A command's write is bounded by ``asyncio.timeout`` rather than redis-py's ``asyncio.wait_for``,
which on Python 3.11 makes a task of every write; the errors are redis-py's.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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

    async def send_packed_command(self, command: bytes | str | Iterable[bytes], check_health: bool = True) -> None:
        me: Any = self  # the connection this mixin is part of
        if not me.socket_timeout or sys.version_info >= (3, 12):  # 3.12's wait_for makes no task
            return await super().send_packed_command(command, check_health)  # type: ignore[misc]
        if not me.is_connected:
            await me.connect_check_health(check_health=False)
        if check_health:
            await me.check_health()
        try:
            if isinstance(command, str):
                command = command.encode()
            if isinstance(command, bytes):
                command = [command]
            async with asyncio.timeout(me.socket_timeout):
                await me._send_packed_command(command)
        except TimeoutError:
            await me.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as e:
            await me.disconnect(nowait=True)
            err_no, errmsg = ("UNKNOWN", e.args[0]) if len(e.args) == 1 else (e.args[0], e.args[1])
            raise RedisConnectionError(f"Error {err_no} while writing to socket. {errmsg}.") from e
        except BaseException:  # the write may be half done: only a new connection is safe
            await me.disconnect(nowait=True)
            raise


def packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """``connection_class`` with commands packed by hiredis."""
    return type(f"Hiredis{connection_class.__name__}", (HiredisPacking, connection_class), {})
