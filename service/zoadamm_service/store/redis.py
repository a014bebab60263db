"""The Redis store: each read-modify-write is one Lua script of ``scripts``, on the keys of one
session (``keys``: one hash tag, one Redis Cluster slot).  The index of a tenant's sessions is
written beside the scripts: before a create (a listed id whose session is missing is skipped)
and after a delete."""

from __future__ import annotations

import builtins
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from .. import keys
from ..errors import Conflict, Invalid, NotFound, SessionReplaced
from ..settings import REDIS_MAX_CONNECTIONS as MAX_CONNECTIONS
from ..turns import Yieldable
from . import replies, scripts
from .base import KEY_REUSED, NO_QUOTA, Appended, Idempotent, JournalRead, Quota, SessionMeta, Store, TracePoint
from .fast_script import FastPool, FastScript
from .faults import ONE_RECONNECT, translate_errors
from .history import Head, chained, next_tag
from .notices import POLL_S, HeadNotices
from .packing import packing
from .redis_history import History
from .redis_split import SplitSteps
from .replication import Replication
from .server_checks import ServerChecks
from .tenant_index import TenantIndex

NO_IDEMPOTENCY = "-"  # the record key a script is given when the request has none
STAGED_TTL_MS = 600_000  # a staged checkpoint that no script took (a crash between the two calls)


class RedisStore(SplitSteps, History, Store):
    """One Redis, or a Redis Cluster (``RedisCluster``): every script and every multi-key call
    stays in one session's slot, and the pipelines of ``list`` are split by the client per node.
    ``alone``: no other process writes to this Redis (the embedded store), so a wait never looks."""

    def __init__(self, client: aioredis.Redis | RedisCluster, ttl_s: int = 0, *, wait_replicas: int = 0,
                 wait_timeout_ms: int = 1000, alone: bool = False) -> None:
        self._redis = client
        self.ttl_s = ttl_s
        self.cluster = isinstance(client, RedisCluster)  # its waits may be a master down (faults)
        # redis-py's cluster client has no asyncio pub/sub: there replicas learn of closes by looking
        shared = not alone and not isinstance(client, RedisCluster)
        self._closes_channel = keys.CLOSES if shared else ""
        self._notices = HeadNotices(self.head, None if alone else POLL_S, self.closed_steps if shared else None)
        self._replication = Replication(client, wait_replicas, wait_timeout_ms, alone=alone)
        self._create = client.register_script(scripts.CREATE)
        self._start = client.register_script(scripts.START)
        self._append = FastScript(client.register_script(scripts.APPEND), client)  # the per-step call
        self._read = client.register_script(scripts.READ)
        self._save_checkpoint = client.register_script(scripts.SAVE_CHECKPOINT)
        self._register_history_scripts(client)
        self._register_split_scripts(client)
        self._index = TenantIndex(client)
        self._touch = client.register_script(scripts.TOUCH)
        self._server_checks = None if alone else ServerChecks(client, wait_replicas)  # the embedded one is ours

    @classmethod
    def from_url(cls, url: str, ttl_s: int = 0, timeout_s: float = 2.0, connect_timeout_s: float = 2.0, *,
                 cluster: bool = False, wait_replicas: int = 0, wait_timeout_ms: int = 1000,
                 max_connections: int = MAX_CONNECTIONS) -> RedisStore:
        """``url`` names the Redis, or with ``cluster`` any node of the cluster.  ``timeout_s``
        bounds every command's wait for its reply: a hung Redis is a 503 then.

        The pool waits (up to ``timeout_s``) for a free connection when all are in use, rather
        than failing at once: a burst of concurrent calls queues instead of answering 503."""
        client: aioredis.Redis | RedisCluster
        if cluster:  # the cluster client keeps a pool per node
            client = RedisCluster.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=connect_timeout_s)
        else:
            pool = FastPool.from_url(
                url, max_connections=max_connections, timeout=timeout_s,
                socket_timeout=timeout_s, socket_connect_timeout=connect_timeout_s, retry=ONE_RECONNECT,
            )
            pool.connection_class = packing(pool.connection_class)
            client = aioredis.Redis.from_pool(pool)  # closing the client closes its pool
        return cls(client, ttl_s, wait_replicas=wait_replicas, wait_timeout_ms=wait_timeout_ms)

    async def close(self) -> None:
        await self._notices.close()
        await self._append.close()
        await self._redis.aclose()

    async def wait_past(self, session_id: str, seq: int, timeout: float, turn: Yieldable | None = None) -> bool:
        return await self._notices.wait_past(session_id, seq, timeout, turn)

    async def closed_steps(self) -> AsyncIterator[tuple[str, int]]:
        """(session id, seq) of each split step any replica appends at seq, as it happens; a
        store without notices (the cluster client, the embedded store) yields nothing.  Raises
        StoreUnavailable or the client's error when the subscription fails."""
        if not self._closes_channel:
            return
        assert isinstance(self._redis, aioredis.Redis)
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._closes_channel)
            while True:  # a timeout per wait: the connection's own would take silence for a failure
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    key, seq = message["data"].decode().split(" ")
                    yield keys.session_of(key), int(seq)
        finally:
            await pubsub.aclose()

    @contextlib.asynccontextmanager
    async def _staged(self, session_id: str, checkpoint: bytes | None) -> AsyncIterator[str]:
        """A staged key holding ``checkpoint`` (``scripts._TAKE_STAGED``: large values stay out
        of Lua), for a script to take; gone after the block whether a script took it or not."""
        staged = keys.staged_checkpoint(session_id, uuid.uuid4().hex)
        if checkpoint is None:
            yield staged
            return
        # as a memoryview, redis-py sends it as a piece of its own: its hiredis packer would copy
        # the whole checkpoint into one buffer first, holding the GIL (and so every other
        # request) for as long as the copy takes
        await self._redis.set(staged, memoryview(checkpoint), px=STAGED_TTL_MS)
        try:
            yield staged
        finally:
            await self._redis.unlink(staged)  # no-op once a script renamed it into place

    @translate_errors
    async def ping(self) -> None:
        await self._redis.ping()
        if self._server_checks is not None:
            await self._server_checks()

    @translate_errors
    async def create(self, meta: SessionMeta, checkpoint: bytes | None,
                     idempotent: Idempotent | None = None, quota: Quota = NO_QUOTA) -> str | None:
        # a create repeated for its Idempotency-Key is answered from its record, whatever the quota
        if idempotent is None or not await self._redis.exists(keys.idempotency(meta.id, idempotent.key)):
            await self._index.admit(meta, quota, self.ttl_s)
        async with self._staged(meta.id, checkpoint) as staged:
            reply = await self._create(
                keys=[keys.meta(meta.id), keys.checkpoint(meta.id),
                      keys.idempotency(meta.id, idempotent.key if idempotent else NO_IDEMPOTENCY), staged],
                args=[meta.tenant, repr(meta.created), json.dumps(meta.config), json.dumps(meta.name),
                      "" if checkpoint is None else "1", *replies.idempotency_args(idempotent), self.ttl_s,
                      meta.vectors],
            )
        if reply[0] == scripts.REUSED:
            raise Invalid(KEY_REUSED)
        if reply[0] == 0:
            raise Conflict(f"session {meta.id!r} already exists: its Idempotency-Key made it before, and the key's "
                           "record of that has expired (ZOADAMM_IDEMPOTENCY_TTL_S); send a new key for a new session")
        try:
            # a repeat answered from its record needs no session any more: it may have been deleted since
            await self._replication.confirm(meta.id, -1 if reply[0] == 1 else 0, makes_session=True)
            await self._replication.confirm_index(keys.tenant_sessions(meta.tenant))
        except Exception:
            if idempotent is None:  # ``reply`` is {2}: this call wrote the session
                await self._undo_create(meta)
            raise
        return reply[1].decode() if reply[0] == 1 else None

    async def _undo_create(self, meta: SessionMeta) -> None:
        """Remove what an unconfirmed create wrote, before its 503: without an Idempotency-Key
        the client never learns the id, and the session would count against the tenant's limit
        for good (with a key its record answers the retry with it).  Best effort, in the budget."""
        with contextlib.suppress(Exception):  # the answer is the confirmation's 503 either way
            await self._redis.unlink(keys.meta(meta.id), keys.checkpoint(meta.id))
            await self._index.forget(meta.tenant, meta.id)

    @translate_errors
    async def touch(self, session_id: str) -> None:
        if not await self._touch(keys=keys.all_for(session_id), args=[self.ttl_s]):
            raise NotFound.session(session_id)

    @translate_errors
    async def meta(self, session_id: str) -> SessionMeta:
        fields = await self._redis.hmget(keys.meta(session_id), *replies.META_FIELDS, "vectors")
        if fields[0] is None:
            raise NotFound.session(session_id)
        return replies.meta(session_id, fields)

    @translate_errors
    async def list(self, tenant: str, offset: int, limit: int) -> tuple[builtins.list[SessionMeta], int]:
        metas, total, gone = await self._index.page(tenant, offset, limit)
        if gone:  # ids of sessions expired or never written: the index forgets them, and the page
            # is read again, so that the pages after it do not move below a walk's next offset
            await self._index.prune(tenant, self.ttl_s)
            metas, total, gone = await self._index.page(tenant, offset, limit)
        return metas, total - gone

    @translate_errors
    async def delete(self, session_id: str) -> None:
        tenant = await self._redis.hget(keys.meta(session_id), "tenant")
        # UNLINK: Redis frees a large session's memory on a thread of its own, not while it serves
        if tenant is None or not await self._redis.unlink(*keys.all_for(session_id)):
            raise NotFound.session(session_id)
        self._notices.gone(session_id, NotFound.session(session_id))  # its waits end now
        await self._index.forget(replies.text(tenant), session_id)
        # an acknowledged delete is work too: a failover must not bring the session back
        await self._replication.confirm(session_id, -1)

    @translate_errors
    async def head(self, session_id: str, created: float | None = None) -> Head:
        head, made, tag = await self._redis.hmget(keys.meta(session_id), "head", "created", "tag")
        if head is None:
            raise NotFound.session(session_id)
        if created is not None and replies.text(made) != repr(created):
            raise SessionReplaced(session_id)
        return Head(int(head), replies.text(tag) if tag else "")

    async def _tag_of(self, session_id: str) -> str:
        """The tag of the session's history, for a caller that holds no copy of it (``tag=None``)."""
        return (await self.head(session_id)).tag

    @translate_errors
    async def start(self, session_id: str, checkpoint: bytes) -> None:
        async with self._staged(session_id, checkpoint) as staged:
            code, head = await self._start(keys=[keys.meta(session_id), keys.checkpoint(session_id), staged],
                                           args=[self.ttl_s])
        if code == scripts.NOT_FOUND:
            raise NotFound.session(session_id)
        if code:
            raise Conflict("the session already has parameters", head=head)
        await self._replication.confirm(session_id, 0, makes_session=True)

    @translate_errors
    async def append(self, session_id: str, seq: int, event: bytes, metric: str | None = None, *,
                     trace: TracePoint | None = None, idempotent: Idempotent | None = None,
                     keep_metrics: int = 0, keep_metric_bytes: int = 0, whole: bool = False,
                     rows: tuple[int, dict[int, str]] | None = None, created: float | None = None,
                     tag: str | None = None) -> Appended:
        tag = await self._tag_of(session_id) if tag is None else tag
        reply = await self._append(
            keys=[keys.meta(session_id), keys.events(session_id), keys.partials(session_id),
                  keys.metrics(session_id), keys.trace(session_id),
                  keys.idempotency(session_id, idempotent.key if idempotent else NO_IDEMPOTENCY),
                  keys.checkpoint(session_id)],
            args=[seq, event, metric or "", *(
                (trace.packed, trace.step, trace.max_points) if trace else (b"", 0, 0)),
                *((idempotent.request, idempotent.ttl_s, idempotent.answer) if idempotent else ("", 0, "")),
                self.ttl_s, keep_metrics, self._closes_channel, keep_metric_bytes, "1" if whole or rows else "",
                replies.created_arg(created), tag, after := next_tag(tag, event),
                *(replies.part_args(*rows) if rows else ())],
        )
        code, head = reply[0], reply[1]
        if code not in (0, 1):
            raise replies.append_refusal(session_id, reply)
        await self._replication.confirm(session_id, head)
        if code == 1:
            return Appended(head, reply[2].decode())
        self._notices.moved(session_id, head)
        return Appended(head, tag=after)

    @translate_errors
    async def replicated(self, session_id: str, head: int) -> None:
        await self._replication.confirm(session_id, head)

    @translate_errors
    async def read(self, session_id: str, since: int | None, tag: str | None = None) -> JournalRead:
        names = [keys.meta(session_id), keys.events(session_id), keys.checkpoint(session_id)]
        if since is None and isinstance(self._redis, aioredis.Redis):
            reply = await self._read_with_checkpoint(names)
        else:  # redis-py's cluster client has no transactions: the script reads the checkpoint
            reply = await self._read(keys=names, args=[-1 if since is None else since, ""])
        if reply[0] == scripts.NOT_FOUND:
            raise NotFound.session(session_id)
        if reply[0] == scripts.NO_STATE:
            raise Conflict("the session has no parameters yet", head=0)
        _, head, start, checkpoint, events, tag_at_head = reply
        # read from the checkpoint (since None, or out of the journal's range): it must be there
        lost = checkpoint is None and (since is None or int(start) != since)
        if len(events) != int(head) - int(start) or lost:
            raise replies.damaged(session_id, f"{len(events)} of {int(head) - int(start)} journal records"
                                       f"{', no checkpoint' * lost}")
        if checkpoint is None and tag is not None and chained(tag, events) != replies.text(tag_at_head):
            return await self.read(session_id, None)  # the caller's copy is of a history the store lost
        return JournalRead(int(head), int(start), checkpoint, list(events), replies.text(tag_at_head))

    async def _read_with_checkpoint(self, names: builtins.list[str]) -> builtins.list:
        """READ from the checkpoint, the checkpoint itself read by a GET in the same transaction
        (``scripts._TAKE_STAGED``: large values stay out of Lua)."""
        assert isinstance(self._redis, aioredis.Redis)
        async with self._redis.pipeline(transaction=True) as pipe:
            await self._read(keys=names, args=[-1, "1"], client=pipe)
            pipe.get(names[2])
            reply, checkpoint = await pipe.execute()
        if reply[0] == 0:
            reply[3] = checkpoint
        return list(reply)

    @translate_errors
    async def save_checkpoint(self, session_id: str, seq: int, checkpoint: bytes) -> None:
        async with self._staged(session_id, checkpoint) as staged:
            await self._save_checkpoint(
                keys=[keys.meta(session_id), keys.events(session_id), keys.checkpoint(session_id), staged],
                args=[seq, self.ttl_s],
            )

