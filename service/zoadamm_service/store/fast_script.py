"""Redis calls with less of redis-py's asyncio machinery around them, which costs more CPU than
a command's own writing and reading at d = 1,400.

``FastScript``: the per-step script (the append).  A command of small arguments goes out on the
process's script lane (``script_lane``: one pipelined connection for every tell), without the
client's command layers (argument checks, retry wrapper, observability hooks).  A large one (an
FO tell's gradient), or one whose lane connection broke, goes redis-py's way on a pooled
connection, a connection error retried once on a fresh connection (``faults.ONE_RECONNECT``).
A script the server does not know is loaded and sent again.  A Redis Cluster client, or a
pipeline, goes through ``redis.asyncio`` as before.

``FastPool``: the blocking pool, which hands out an idle connection, and takes one back, without
its condition's lock and timer when nobody waits for a connection (then a free one is
available at once); with callers waiting, or the pool in maintenance, the pool's own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.event import AsyncAfterConnectionReleasedEvent
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from .packing import pack_small
from .script_lane import ScriptLane


class FastScript:
    """``script(keys=..., args=...)`` as ``AsyncScript``'s call, on a plain client's pool."""

    def __init__(self, script: AsyncScript, client: Any) -> None:
        self.script = script
        self.fast = type(client) is aioredis.Redis and client.connection is None
        self.pool = client.connection_pool if self.fast else None
        self.lane = ScriptLane(self.pool) if self.fast else None

    async def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = (), client: Any = None) -> Any:
        if not self.fast or client is not None:
            return await self.script(keys=keys, args=args, client=client)
        try:
            return await self._evalsha(keys, args)
        except NoScriptError:  # a restarted or other server: load it, as AsyncScript does
            self.script.sha = await self.script.registered_client.script_load(self.script.script)
            return await self._evalsha(keys, args)

    async def close(self) -> None:
        if self.lane is not None:
            await self.lane.close()

    async def _evalsha(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        assert self.pool is not None and self.lane is not None
        command = ("EVALSHA", self.script.sha, len(keys), *keys, *args)
        packed = pack_small(command)
        if packed is not None:
            try:
                return await self.lane.call([packed])
            except RedisConnectionError:  # the lane's connection broke: this call goes the pool's way
                pass
        connection = await self.pool.get_connection()
        try:
            try:
                return await _send(connection, command)
            except RedisConnectionError:  # a connection Redis closed: once more, reconnected
                await connection.disconnect()
                return await _send(connection, command)
        finally:
            await self.pool.release(connection)


async def _send(connection: Any, command: tuple[Any, ...]) -> Any:
    await connection.send_command(*command)
    return await connection.read_response()


class FastPool(aioredis.BlockingConnectionPool):
    def _crowded(self) -> bool:
        """Someone waits for a connection or holds the pool's locks: the pool's own way then."""
        condition = self._condition
        return condition.locked() or bool(getattr(condition, "_waiters", None)) or self._lock.locked() \
            or self._in_maintenance

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        if args or kwargs or not self._available_connections or self._crowded():
            return await super().get_connection(*args, **kwargs)
        connection = self._available_connections.pop()
        self._in_use_connections.add(connection)
        try:
            # connected, nothing left to read: what ``ensure_connection`` checks, without its
            # retry wrapper; anything else goes its way (reconnect, or the error)
            try:
                ready = connection.is_connected and not await connection.can_read()
            except (RedisConnectionError, OSError):  # redis-py 8: a connection the server closed
                ready = False
            if not ready:
                await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        if self._crowded():
            await super().release(connection)
            return
        self._in_use_connections.remove(connection)
        if connection.should_reconnect():
            await connection.disconnect()
        self._available_connections.append(connection)
        assert self._event_dispatcher is not None  # the pool makes one when given none
        await self._event_dispatcher.dispatch_async(AsyncAfterConnectionReleasedEvent(connection))
