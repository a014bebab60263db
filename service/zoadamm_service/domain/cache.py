"""The replicas one service process keeps: an LRU cache bounded in bytes, and the checkpoints
written in the background when a session reaches one."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import OrderedDict

from ..errors import NotFound, StoreUnavailable
from ..store import Store
from . import journal
from .replica import Replica

log = logging.getLogger("zoadamm.service")


class ReplicaCache:
    def __init__(self, store: Store, budget_bytes: int) -> None:
        self.store = store
        self.budget_bytes = budget_bytes
        self._replicas: OrderedDict[str, Replica] = OrderedDict()
        self._background: set[asyncio.Task] = set()

    async def get(self, session_id: str, tenant: str) -> Replica:
        """The session's replica, loaded on a miss, if ``tenant`` owns it.  Raises NotFound.

        Another tenant's session costs the store read an unknown id costs, cached or not, and is
        not cached by the asking: a quicker 404 would tell that the id exists."""
        replica = self._replicas.get(session_id)
        if replica is None or replica.meta.tenant != tenant:
            meta = await self.store.meta(session_id)
            if meta.tenant != tenant:
                raise NotFound.session(session_id)
            # setdefault: a concurrent request may have cached it meanwhile, and its lock counts
            config = journal.decode_config(meta.config, meta.vectors)
            replica = self._replicas.setdefault(session_id, Replica(meta, config))
            self._replicas.move_to_end(session_id)
            self._evict(keep=session_id)
        self._replicas.move_to_end(session_id)
        return replica

    def forget(self, session_id: str) -> None:
        self._replicas.pop(session_id, None)

    async def save_checkpoint(self, replica: Replica) -> None:
        """Write the replica's state as the session's checkpoint, without waiting for the write.
        The caller holds the replica's lock: the encoding (a snapshot, bytes copies) must see
        one state, so it is awaited, off the event loop for a large session."""
        blob = await replica.run(journal.encode_checkpoint, replica.started(), replica.seq, replica.last)
        # a context of its own: the write outlives the call that answered, and that call's budget
        task = asyncio.create_task(self.store.save_checkpoint(replica.meta.id, replica.seq, blob),
                                   context=contextvars.Context())
        self._background.add(task)
        task.add_done_callback(self._checkpoint_done)

    def _checkpoint_done(self, task: asyncio.Task) -> None:
        """A checkpoint the store did not take loses nothing (the journal holds every step, and
        the next checkpoint is taken as usual): one line in the log, not a traceback."""
        self._background.discard(task)
        error = None if task.cancelled() else task.exception()
        if isinstance(error, StoreUnavailable):
            log.warning("a checkpoint was not written (%s); the journal keeps its steps", error)
        elif error is not None:
            log.error("a checkpoint was not written", exc_info=error)

    async def aclose(self) -> None:
        """Finish the work answered before it was done (deferred updates, checkpoints), so that
        the store is not closed under it."""
        for replica in list(self._replicas.values()):
            await replica.settle()
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _evict(self, keep: str) -> None:
        """Drop the least recently used replicas over the budget, never ``keep`` (the one being
        asked for) nor one that is busy."""
        total = sum(r.nbytes for r in self._replicas.values())
        for session_id in list(self._replicas):
            if total <= self.budget_bytes or len(self._replicas) <= 1:
                break
            replica = self._replicas[session_id]
            if session_id == keep or replica.busy:
                continue
            total -= replica.nbytes
            del self._replicas[session_id]
