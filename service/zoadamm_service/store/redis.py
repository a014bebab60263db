"""The Redis store.  Each read-modify-write is one short Lua script: Redis runs a script
atomically, so a conditional append needs no WATCH retries under contention, and a re-sent
script after a lost reply fails its condition instead of writing twice."""

from __future__ import annotations

import builtins
import functools
import json

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .. import keys
from ..errors import Conflict, NotFound, StoreUnavailable
from .base import JournalRead, SessionMeta, Store, TraceRead, partial_field, parts_of

_NOT_FOUND, _NO_STATE, _MOVED = -1, -2, -3
MAX_CONNECTIONS = 100  # per replica process

# KEYS: meta, checkpoint, sessions; ARGV: id, created, config, name, checkpoint-or-empty
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'config', ARGV[3], 'name', ARGV[4], 'created', ARGV[2],
           'head', 0, 'ckpt_seq', 0, 'has_state', ARGV[5] == '' and '0' or '1')
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[5]) end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""
# KEYS: meta, checkpoint; ARGV: checkpoint
# Set once: a replica that cached the first x can never be left holding a replaced one.
_START = """
local m = redis.call('HMGET', KEYS[1], 'head', 'has_state')
if not m[1] then return {-1, 0} end
if m[2] == '1' then return {-2, tonumber(m[1])} end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'has_state', '1')
return {0, 0}
"""
# KEYS: meta, events, partials, metrics; ARGV: seq, event, metric-or-empty, metrics kept (0: all)
# Conditional append: two replicas can never both write event seq.
_APPEND = """
local m = redis.call('HMGET', KEYS[1], 'head', 'has_state')
if not m[1] then return {-1, 0} end
local head = tonumber(m[1])
if m[2] ~= '1' then return {-2, head} end
if head ~= tonumber(ARGV[1]) then return {-3, head} end
redis.call('RPUSH', KEYS[2], ARGV[2])
-- a step closes the open step and drops its partials; a metric leaves them alone
if ARGV[3] == '' then redis.call('DEL', KEYS[3]) else
  redis.call('RPUSH', KEYS[4], ARGV[3])
  if tonumber(ARGV[4]) > 0 then redis.call('LTRIM', KEYS[4], -tonumber(ARGV[4]), -1) end
end
redis.call('HSET', KEYS[1], 'head', head + 1)
return {0, head + 1}
"""
# KEYS: meta, events, checkpoint; ARGV: since (-1 for "from the checkpoint")
_READ = """
local m = redis.call('HMGET', KEYS[1], 'head', 'ckpt_seq', 'has_state')
if not m[1] then return {-1} end
if m[3] ~= '1' then return {-2} end
local head, base, since = tonumber(m[1]), tonumber(m[2]), tonumber(ARGV[1])
if since < base or since > head then
  return {0, head, base, redis.call('GET', KEYS[3]), redis.call('LRANGE', KEYS[2], 0, -1)}
end
return {0, head, since, false, redis.call('LRANGE', KEYS[2], since - base, -1)}
"""
# KEYS: meta, events, checkpoint; ARGV: seq, checkpoint
_SAVE_CHECKPOINT = """
local m = redis.call('HMGET', KEYS[1], 'head', 'ckpt_seq')
if not m[1] then return 0 end
local head, base, seq = tonumber(m[1]), tonumber(m[2]), tonumber(ARGV[1])
if seq <= base or seq > head then return 0 end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[2], seq - base, -1)
redis.call('HSET', KEYS[1], 'ckpt_seq', seq)
return 1
"""
# KEYS: meta, partials; ARGV: field, value, field, value, ...
# HSETNX: the first report of a direction wins, so a conflicting re-report cannot replace it.
_ADD_PARTIALS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
for i = 1, #ARGV, 2 do redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) end
return redis.call('HGETALL', KEYS[2])
"""

# KEYS: meta, trace; ARGV: step, point, max_points.  The downsampling rule of domain.trace in
# one script, so a compaction and an append can never interleave.  A point starts with its
# step as a little-endian float64.
_APPEND_TRACE = """
local m = redis.call('HMGET', KEYS[1], 'head', 'trace_stride')
if not m[1] then return -1 end
local stride, step = tonumber(m[2] or '1'), tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'trace_last', ARGV[2])
if step % stride ~= 0 then return stride end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[3]) then
  stride = stride * 2
  local kept = {}
  for _, p in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    if struct.unpack('<d', p) % stride == 0 then kept[#kept + 1] = p end
  end
  redis.call('DEL', KEYS[2])
  if #kept > 0 then redis.call('RPUSH', KEYS[2], unpack(kept)) end
  redis.call('HSET', KEYS[1], 'trace_stride', stride)
  if step % stride ~= 0 then return stride end
end
redis.call('RPUSH', KEYS[2], ARGV[2])
return stride
"""
# KEYS: meta, trace; ARGV: since, tail (-1: all).  Cut in the server: a poll moves new points only.
_READ_TRACE = """
local m = redis.call('HMGET', KEYS[1], 'head', 'trace_stride', 'trace_last')
if not m[1] then return {-1} end
local tail = tonumber(ARGV[2])
if tail == 0 then return {0, m[2] or '1', m[3] or false, {}} end
local points = redis.call('LRANGE', KEYS[2], tail > 0 and -tail or 0, -1)
local since, cut = tonumber(ARGV[1]), #points + 1
while cut > 1 and struct.unpack('<d', points[cut - 1]) >= since do cut = cut - 1 end
local kept = {}
for i = cut, #points do kept[#kept + 1] = points[i] end
return {0, m[2] or '1', m[3] or false, kept}
"""


def _translate_errors(method):
    """A store that does not answer, or answers with an error, is a 503, never a 500."""

    @functools.wraps(method)
    async def wrapper(*args, **kwargs):
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError) as exc:  # connection, timeout, and any error Redis replies with
            raise StoreUnavailable(f"Redis is unavailable: {type(exc).__name__}: {exc}") from exc

    return wrapper


class RedisStore(Store):
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._create = client.register_script(_CREATE)
        self._start = client.register_script(_START)
        self._append = client.register_script(_APPEND)
        self._read = client.register_script(_READ)
        self._save_checkpoint = client.register_script(_SAVE_CHECKPOINT)
        self._add_partials = client.register_script(_ADD_PARTIALS)
        self._append_trace = client.register_script(_APPEND_TRACE)
        self._read_trace = client.register_script(_READ_TRACE)

    @classmethod
    def from_url(cls, url: str, timeout_s: float = 2.0, connect_timeout_s: float = 2.0) -> RedisStore:
        """``timeout_s`` bounds every command's wait for its reply: a hung Redis is a 503 then.

        The pool waits (up to ``timeout_s``) for a free connection when all are in use, rather
        than failing at once: a burst of concurrent calls (the dashboard reads every session's
        row at once) queues instead of answering 503."""
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=timeout_s,
            socket_timeout=timeout_s, socket_connect_timeout=connect_timeout_s,
        )
        return cls(aioredis.Redis.from_pool(pool))  # closing the client closes its pool

    async def close(self) -> None:
        await self._redis.aclose()

    @_translate_errors
    async def ping(self) -> None:
        await self._redis.ping()

    @_translate_errors
    async def create(self, meta: SessionMeta, checkpoint: bytes | None) -> None:
        created = await self._create(
            keys=[keys.meta(meta.id), keys.checkpoint(meta.id), keys.SESSIONS],
            args=[meta.id, repr(meta.created), json.dumps(meta.config), json.dumps(meta.name), checkpoint or b""],
        )
        if not created:
            raise Conflict(f"session {meta.id!r} already exists")

    @_translate_errors
    async def meta(self, session_id: str) -> SessionMeta:
        fields = await self._redis.hmget(keys.meta(session_id), "config", "name", "created")
        if fields[0] is None:
            raise NotFound(f"no session {session_id!r}")
        return _meta(session_id, fields)

    @_translate_errors
    async def list(self, offset: int, limit: int) -> tuple[list[SessionMeta], int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrange(keys.SESSIONS, offset, offset + limit - 1)
            pipe.zcard(keys.SESSIONS)
            ids, total = await pipe.execute()
        async with self._redis.pipeline(transaction=False) as pipe:
            for raw in ids:
                pipe.hmget(keys.meta(raw.decode()), "config", "name", "created")
            rows = await pipe.execute()
        metas = [_meta(raw.decode(), f) for raw, f in zip(ids, rows, strict=True) if f[0] is not None]
        return metas, total

    @_translate_errors
    async def delete(self, session_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys.all_for(session_id))
            pipe.zrem(keys.SESSIONS, session_id)
            deleted, _ = await pipe.execute()
        if not deleted:
            raise NotFound(f"no session {session_id!r}")

    @_translate_errors
    async def head(self, session_id: str) -> int:
        head = await self._redis.hget(keys.meta(session_id), "head")
        if head is None:
            raise NotFound(f"no session {session_id!r}")
        return int(head)

    @_translate_errors
    async def start(self, session_id: str, checkpoint: bytes) -> None:
        code, head = await self._start(keys=[keys.meta(session_id), keys.checkpoint(session_id)], args=[checkpoint])
        if code == _NOT_FOUND:
            raise NotFound(f"no session {session_id!r}")
        if code:
            raise Conflict("the session already has parameters", head=head)

    @_translate_errors
    async def append(self, session_id: str, seq: int, event: bytes, metric: str | None = None,
                     keep_metrics: int = 0) -> int:
        code, head = await self._append(
            keys=[keys.meta(session_id), keys.events(session_id), keys.partials(session_id), keys.metrics(session_id)],
            args=[seq, event, metric or "", keep_metrics],
        )
        if code == _NOT_FOUND:
            raise NotFound(f"no session {session_id!r}")
        if code != 0:
            raise Conflict("the session moved on" if code == _MOVED else "the session has no parameters yet", head=head)
        return head

    @_translate_errors
    async def read(self, session_id: str, since: int | None) -> JournalRead:
        reply = await self._read(
            keys=[keys.meta(session_id), keys.events(session_id), keys.checkpoint(session_id)],
            args=[-1 if since is None else since],
        )
        if reply[0] == _NOT_FOUND:
            raise NotFound(f"no session {session_id!r}")
        if reply[0] == _NO_STATE:
            raise Conflict("the session has no parameters yet", head=0)
        _, head, start, checkpoint, events = reply
        return JournalRead(int(head), int(start), checkpoint, list(events))

    @_translate_errors
    async def save_checkpoint(self, session_id: str, seq: int, checkpoint: bytes) -> None:
        await self._save_checkpoint(
            keys=[keys.meta(session_id), keys.events(session_id), keys.checkpoint(session_id)],
            args=[seq, checkpoint],
        )

    @_translate_errors
    async def add_partials(self, session_id: str, step: int, parts: dict[int, str]) -> dict[int, str]:
        flat = [item for i, v in parts.items() for item in (partial_field(step, i), v)]
        reply = await self._add_partials(keys=[keys.meta(session_id), keys.partials(session_id)], args=flat)
        if reply is None:
            raise NotFound(f"no session {session_id!r}")
        fields = {reply[i].decode(): reply[i + 1].decode() for i in range(0, len(reply), 2)}
        return parts_of(step, fields)

    @_translate_errors
    async def metrics(self, session_id: str, last: int | None) -> builtins.list[str]:
        if last == 0:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.exists(keys.meta(session_id))
            pipe.lrange(keys.metrics(session_id), -last if last else 0, -1)
            exists, rows = await pipe.execute()
        if not exists:
            raise NotFound(f"no session {session_id!r}")
        return [row.decode() for row in rows]

    @_translate_errors
    async def append_trace(self, session_id: str, step: int, point: bytes, max_points: int) -> None:
        reply = await self._append_trace(keys=[keys.meta(session_id), keys.trace(session_id)],
                                         args=[step, point, max_points])
        if reply == _NOT_FOUND:
            raise NotFound(f"no session {session_id!r}")

    @_translate_errors
    async def trace(self, session_id: str, since: int = 0, tail: int | None = None) -> TraceRead:
        reply = await self._read_trace(
            keys=[keys.meta(session_id), keys.trace(session_id)], args=[since, -1 if tail is None else tail]
        )
        if reply[0] == _NOT_FOUND:
            raise NotFound(f"no session {session_id!r}")
        _, stride, last, points = reply
        return TraceRead(int(stride), list(points), last)


def _meta(session_id: str, fields: list) -> SessionMeta:
    config, name, created = fields
    return SessionMeta(session_id, json.loads(name), json.loads(config), float(created))
