"""The Redis store's reads of a session's history: its metric reports, whole or a page at a time,
and its trace (``Store.metrics``, ``metrics_page``, ``trace``)."""

from __future__ import annotations

import builtins
from typing import Any

from .. import keys
from ..errors import NotFound
from . import metric_scripts, scripts
from .base import MetricsPage, TraceRead
from .faults import translate_errors


class History:
    """Mixed into ``RedisStore``, whose client these use."""

    _redis: Any

    def _register_history_scripts(self, client: Any) -> None:
        self._read_trace = client.register_script(scripts.READ_TRACE)
        self._read_metrics = client.register_script(metric_scripts.READ_METRICS)

    @translate_errors
    async def metrics(self, session_id: str, last: int | None) -> builtins.list[str]:
        if last == 0:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.exists(keys.meta(session_id))
            pipe.lrange(keys.metrics(session_id), -last if last else 0, -1)
            exists, rows = await pipe.execute()
        if not exists:
            raise NotFound.session(session_id)
        return [row.decode() for row in rows]

    @translate_errors
    async def metrics_page(self, session_id: str, cursor: int | None = None, *, last: int | None = None,
                           limit: int, max_bytes: int, points: int = 0) -> MetricsPage:
        reply = await self._read_metrics(
            keys=[keys.meta(session_id), keys.metrics(session_id)],
            args=[-1 if cursor is None else cursor, -1 if last is None else last, limit, max_bytes, points])
        if reply[0] == scripts.NOT_FOUND:
            raise NotFound.session(session_id)
        _, end, next_cursor, rows = reply
        return MetricsPage([row.decode() for row in rows], int(end), None if next_cursor < 0 else int(next_cursor))

    @translate_errors
    async def trace(self, session_id: str, since: int = 0, tail: int | None = None) -> TraceRead:
        reply = await self._read_trace(
            keys=[keys.meta(session_id), keys.trace(session_id)], args=[since, -1 if tail is None else tail]
        )
        if reply[0] == scripts.NOT_FOUND:
            raise NotFound.session(session_id)
        _, stride, last, points = reply
        return TraceRead(int(stride), list(points), last)
