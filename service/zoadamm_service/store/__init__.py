"""Session storage behind one small interface (``base.Store``): Redis, or in-process."""

from __future__ import annotations

from ..settings import Settings
from .base import Appended, JournalRead, Quota, SessionMeta, Store, TraceRead
from .history import Head


def open_store(settings: Settings) -> Store:
    """Redis when ``REDIS_URL`` is set, otherwise the embedded in-process store."""
    if settings.redis_url:
        from .redis import RedisStore

        return RedisStore.from_url(settings.redis_url, settings.session_ttl_s, settings.redis_timeout_s,
                                   settings.redis_connect_timeout_s, cluster=settings.redis_cluster,
                                   wait_replicas=settings.redis_wait_replicas,
                                   wait_timeout_ms=settings.redis_wait_timeout_ms,
                                   max_connections=settings.redis_max_connections)
    from .memory import MemoryStore

    return MemoryStore(settings.session_ttl_s)


__all__ = ["Appended", "Head", "JournalRead", "Quota", "SessionMeta", "Store", "TraceRead", "open_store"]
