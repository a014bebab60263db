"""One Redis connection that carries the per-step script of every tell in this process,
pipelined: the commands of a loop turn go out in one write, and their replies are read in order
as they arrive.

Why: on a pooled connection of its own, each command costs a socket write of its own (on
loopback the writer's system call also runs the receiving side), a read wakeup of its own, and
the pool's bookkeeping.  Concurrent tells share all three here, and Redis reads their commands
in one wakeup.  Redis runs one connection's commands in order, as it runs any connection's
commands one at a time, so nothing waits longer than on a pool.

What stays redis-py's: the connection and its handshake (TCP, a Unix socket or TLS, AUTH,
SELECT) come from the pool's connection class and settings, and an error reply is the exception
redis-py's parser makes of it.  When no reply comes for a whole socket timeout while calls wait
(so a call waits one to two timeouts), every waiting call gets a ``TimeoutError``;
a connection that closes is a ``ConnectionError``.  Either way the next call connects again.
A call cancelled before its turn's write is not sent; one cancelled after has its reply read
and dropped, so a reply always reaches the call that sent its command.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse
from redis.exceptions import TimeoutError as RedisTimeoutError

READ_BYTES = 1 << 16


class ScriptLane:
    def __init__(self, pool: Any) -> None:
        self._pool = pool  # its connection class and settings make the lane's connection
        self._timeout: float | None = pool.connection_kwargs.get("socket_timeout")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: Any = None  # a redis-py connection, connected and greeted
        self._reading: asyncio.Task | None = None
        self._opening = asyncio.Lock()
        self._queued: list[tuple[asyncio.Future, list[bytes]]] = []  # for this turn's write
        self._waiting: collections.deque[asyncio.Future] = collections.deque()  # written, no reply yet
        self._replies = 0  # replies read so far: the timeout watch looks for progress
        self._watch: asyncio.TimerHandle | None = None

    async def call(self, command: list[bytes]) -> Any:
        """Send ``command`` (packed) and return its reply, or raise redis-py's error for it."""
        loop = asyncio.get_running_loop()
        if self._connection is None or self._loop is not loop:
            await self._open(loop)
        future = loop.create_future()
        if not self._queued:
            loop.call_soon(self._write)
        self._queued.append((future, command))
        return await future

    async def close(self) -> None:
        if self._connection is not None:
            self._broken(self._connection, RedisConnectionError("The store closed."))

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:  # a lane used from another loop (tests) starts over there
            self._connection, self._reading, self._queued, self._waiting = None, None, [], collections.deque()
            self._loop, self._opening, self._watch = loop, asyncio.Lock(), None
        async with self._opening:
            if self._connection is not None:
                return
            connection = self._pool.make_connection()
            try:
                await connection.connect()
            except BaseException:  # refused, timed out, or the call's budget ran out meanwhile
                await connection.disconnect(nowait=True)
                raise
            parser = connection._parser
            options: dict[str, Any] = {"protocolError": InvalidResponse, "replyError": parser.parse_error}
            if connection.encoder.decode_responses:
                options.update(encoding=connection.encoder.encoding, errors=connection.encoder.encoding_errors)
            self._connection = connection
            self._reading = loop.create_task(self._read(connection, hiredis.Reader(**options)))

    def _write(self) -> None:
        queued, self._queued = self._queued, []
        connection = self._connection
        if connection is None:  # broken since these calls were queued
            for future, _ in queued:
                if not future.done():
                    future.set_exception(RedisConnectionError("The connection to Redis closed."))
            return
        parts: list[bytes] = []
        for future, command in queued:
            if not future.cancelled():
                parts += command
                self._waiting.append(future)
        if parts:
            try:
                connection._writer.writelines(parts)
            except Exception as error:  # noqa: BLE001 - a transport closed under it: the calls go the pool's way
                self._broken(connection, RedisConnectionError(f"Error writing to Redis: {error!r}"))
                return
            if self._watch is None and self._timeout:
                self._watch = asyncio.get_running_loop().call_later(self._timeout, self._watched, self._replies)

    async def _read(self, connection: Any, reader: Any) -> None:
        stream = connection._reader
        try:
            while True:
                data = await stream.read(READ_BYTES)
                if not data:
                    raise RedisConnectionError("Connection closed by server.")
                reader.feed(data)
                while (reply := reader.gets()) is not False:
                    self._replies += 1
                    future = self._waiting.popleft()
                    if future.done():  # its caller was cancelled: the reply is dropped
                        continue
                    if isinstance(reply, Exception):  # an error reply, as redis-py's parser makes it
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the connection is gone, whatever broke it
            if not isinstance(error, (RedisConnectionError, RedisTimeoutError)):
                error = RedisConnectionError(f"Error reading from Redis: {error!r}")
            self._broken(connection, error)

    def _watched(self, replies_then: int) -> None:
        self._watch = None
        if not self._waiting or self._connection is None:
            return
        if self._replies == replies_then:  # a whole timeout without a reply while calls wait
            self._broken(self._connection, RedisTimeoutError("Timeout reading from Redis"))
        else:
            self._watch = asyncio.get_running_loop().call_later(self._timeout, self._watched, self._replies)  # type: ignore[arg-type]

    def _broken(self, connection: Any, error: Exception) -> None:
        """Every call waiting on ``connection`` gets ``error``; the next call connects again."""
        if self._connection is not connection:
            return
        self._connection = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._reading is not None and self._reading is not asyncio.current_task():
            self._reading.cancel()
        self._reading = None
        waiting, self._waiting = self._waiting, collections.deque()
        for future in waiting:
            if not future.done():
                future.set_exception(type(error)(*error.args))
        if connection._writer is not None:
            connection._writer.transport.abort()
