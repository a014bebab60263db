"""The session rules of metric reports and reads: a report feeds the plateau schedule and is one
journal record; the history and the trace are read a page or a tail at a time."""

from __future__ import annotations

import json
import time

from ..errors import Conflict, ServiceBusy
from ..store.base import MetricsPage
from . import inputs, journal, limits, trace
from .ids import RequestKey
from .sessions import COMMIT_TRIES, Sessions


class Reports:
    """Metric reports and reads, over the session rules of ``sessions`` (whose ``owned`` finds
    a tenant's session)."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.store = sessions.store
        self.settings = sessions.settings

    async def report(self, tenant: str, session_id: str, value: float, named: dict[str, float],
                     key: RequestKey | None = None) -> dict:
        """Feed the plateau schedule; returns lr and mu after it.  With ``key``, a repeat gets the
        first answer and changes nothing.  Raises Conflict, Invalid, NotFound."""
        limits.check_metric_names(self.settings, named)
        replica = await self.sessions.owned(tenant, session_id)
        async with replica.locked():
            for _ in range(COMMIT_TRIES):  # another writer may append between our read and our write
                await replica.catch_up(self.store, await self.store.head(session_id, replica.meta.created))
                opt = replica.started()
                _, lr, mu = inputs.invalid_on_error(opt.rates_after, value)
                entry = {"step": opt.step, "value": value, "lr": lr, "mu": mu, "time": time.time(), **named}
                text = json.dumps(entry)
                try:
                    appended = await replica.append(
                        self.store, journal.encode_metric(opt.step, value), metric=text,
                        idempotent=None if key is None else key.record(text, self.settings.idempotency_ttl_s),
                        keep_metrics=self.settings.metric_history, keep_metric_bytes=self.settings.metric_history_bytes,
                    )
                except Conflict:
                    continue
                if appended.replayed is not None:
                    return dict(json.loads(appended.replayed))
                replica.apply_event(journal.Event(journal.METRIC, opt.step, value=value))
                return entry
            raise ServiceBusy("the session is too busy to take a metric now; retry", step=replica.step)

    async def metrics(self, tenant: str, session_id: str, cursor: int | None, last: int | None,
                      limit: int) -> MetricsPage:
        """A page of the metric history (``Store.metrics_page``).  Raises NotFound."""
        await self.sessions.owned(tenant, session_id)
        return await self.store.metrics_page(session_id, cursor, last=last, limit=limit, max_bytes=limits.PAGE_BYTES)

    async def trace(self, tenant: str, session_id: str, since: int, tail: int | None) -> tuple[dict, dict]:
        """The session's trace as an answer (``trace.read``).  Raises NotFound."""
        await self.sessions.owned(tenant, session_id)
        return await trace.read(self.store, session_id, since, tail)
