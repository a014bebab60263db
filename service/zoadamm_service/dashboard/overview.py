"""What the dashboard shows, read from the store through a shared cache (``SharedLoads``).

The table reads, per session, the newest trace points and the newest metric; a session's
page reads its whole trace (at most ``trace_points`` points) and a page of its metrics, or a
series of them spread over the history: each answer stays far under 1 MB.  Each is loaded
at most once per ``ttl_s`` per process, however many pages poll it.
"""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np

from zoadamm import SessionConfig

from ..api.jsontext import finite_list, items
from ..domain import journal, trace
from ..domain.limits import PAGE_BYTES, PAGE_LIMIT, RESERVED_METRICS
from ..errors import NotFound
from .cache import SharedLoads

MAX_ROWS = 500  # the newest sessions shown
RATE_POINTS = 16  # steps/s over the newest kept points
IDLE_S = 10.0  # a session without a step for this long shows 0 steps/s
ACTIVE_S = 60.0  # active sessions (/metrics): a step in the last minute
ROW_METRIC_BYTES = 1024  # of a table row's newest report: 500 rows stay far under 1 MB
# Table rows read at once (each row holds up to two store connections): a table of MAX_ROWS read
# all at once would take every pooled connection, and the tells would queue behind it.
ROW_READS = 16


class Overview:
    """What the dashboard shows a tenant, cached per tenant: the tenant's sessions only."""

    def __init__(self, sessions, ttl_s: float = 1.0) -> None:
        self.sessions = sessions
        self.store = sessions.store
        self.cache = SharedLoads(ttl_s)

    async def table(self, tenant: str) -> dict:
        """{"sessions": a row for each of the newest ``MAX_ROWS`` sessions, "total": how many
        the tenant has}."""
        return await self.cache.get(("table", tenant), lambda: self._table(tenant), weigh=_table_bytes)

    async def active_sessions(self, tenant: str) -> int:
        now = time.time()
        rows = (await self.table(tenant))["sessions"]
        return sum(1 for row in rows if row["updated"] and now - row["updated"] < ACTIVE_S)

    async def session(self, tenant: str, session_id: str, since: int = 0, cursor: int | None = None,
                      limit: int = PAGE_LIMIT, points: int = 0) -> dict:
        """The session's trace points of steps >= ``since``, and a page of its metrics: from
        ``cursor``, or with ``points`` a series of at most that many spread over the history
        (``Store.metrics_page``).  Raises NotFound, also for another tenant's session."""
        await self.sessions.owned_meta(tenant, session_id)
        full = await self.cache.get(("session", session_id), lambda: self._session(session_id), weigh=_trace_bytes)
        page = await self.cache.get(("metrics", session_id, cursor, limit, points),
                                    lambda: self._metrics(session_id, cursor, limit, points), weigh=_page_bytes)
        cut = int(np.searchsorted(full["steps"], since))
        answer = {k: v for k, v in full.items() if k not in ("steps", "columns")}
        answer.update(page)
        # "trace": the JSON text of the columns from ``cut`` on (``jsontext.spliced``)
        answer["trace"] = "{" + ", ".join(f'"{name}": [{", ".join(texts[cut:])}]'
                                          for name, texts in full["columns"].items()) + "}"
        return answer  # "rows": the metric reports' JSON texts (``jsontext.with_rows``)

    async def _metrics(self, session_id: str, cursor: int | None, limit: int, points: int) -> dict:
        page = await self.store.metrics_page(session_id, cursor, limit=limit, max_bytes=PAGE_BYTES, points=points)
        return {"rows": page.items, "next_cursor": page.next_cursor, "end_cursor": page.end}

    async def _table(self, tenant: str) -> dict:
        _, total = await self.store.list(tenant, 0, 1)
        metas, _ = await self.store.list(tenant, max(0, total - MAX_ROWS), MAX_ROWS)
        turns = asyncio.Semaphore(ROW_READS)
        rows = await asyncio.gather(*(self._row(m, turns) for m in metas))
        return {"sessions": [r for r in rows if r is not None], "total": total}

    async def _row(self, meta, turns: asyncio.Semaphore) -> dict | None:
        try:
            async with turns:
                kept, metric = await asyncio.gather(
                    self.store.trace(meta.id, 0, RATE_POINTS), self.store.metrics(meta.id, 1))
        except NotFound:  # deleted since the list was read
            return None
        # a list's metas leave the constraint's vectors out, and a row needs only its JSON part
        cfg = SessionConfig.from_dict({**meta.config, "constraint": None})
        last = None if kept.last is None else trace.as_dict(kept.last)
        step = 0 if last is None else last["step"] + 1
        per_step = cfg.evaluations_per_step
        report = json.loads(metric[-1]) if metric else None
        lr, mu = (last["lr"], last["mu"]) if last else (cfg.lr, cfg.mu)
        if report is not None and report["step"] >= step:  # reported since the newest step: its schedule's lr, mu
            lr, mu = report["lr"], report["mu"]
        return {
            "id": meta.id, "name": meta.name, "created": meta.created, "method": cfg.method,
            "constraint": meta.config.get("constraint"), "takes_values": cfg.takes_values,
            "dim": cfg.dim, "directions": cfg.directions, "difference": cfg.difference,
            "distribution": cfg.distribution, "evaluations_per_step": per_step,
            "step": step, "evaluations": step * per_step, "steps_per_s": _rate(kept.points, last),
            "lr": lr, "mu": mu, "start_lr": cfg.lr,
            "f": last["f"] if last else None, "last_metric": None if report is None else _brief(report),
            "updated": last["time"] if last else None,
        }

    async def _session(self, session_id: str) -> dict:
        meta = await self.store.meta(session_id)
        fields, vectors = await trace.read(self.store, session_id)
        cfg = journal.decode_config(meta.config, meta.vectors)
        # each point's JSON text, encoded once per load: every dashboard polling the session,
        # and each page of its metrics, sends the whole trace again
        columns = {"step": items(fields["step"]), "time": items(fields["time"])}
        columns.update({name: items(finite_list(v)) for name, v in vectors.items()})
        return {
            "id": meta.id, "name": meta.name, "created": meta.created, "config": meta.config,
            "takes_values": cfg.takes_values,  # as a table row says it: a session not in the table has no row
            "evaluations_per_step": cfg.evaluations_per_step, "stride": fields["stride"],
            "last": fields["last"], "steps": np.asarray(fields["step"], dtype=np.int64),
            "columns": columns,
        }


def _brief(report: dict) -> dict:
    """A table row's newest report: its own fields, and its named metrics while they fit in
    ROW_METRIC_BYTES (a report may hold 32 names of 100 characters; 500 rows of those would be
    over 2 MB)."""
    brief, size = {}, 0
    for name, value in report.items():
        size += len(name) + 30  # the name, quoted, and a number
        if name in RESERVED_METRICS or size <= ROW_METRIC_BYTES:
            brief[name] = value
    return brief


def _rate(points: list[bytes], last: dict | None) -> float:
    if last is None or time.time() - last["time"] > IDLE_S or not points:
        return 0.0
    first_step, first_time = trace.POINT.unpack(points[0])[:2]
    if last["time"] <= first_time:
        return 0.0
    return (last["step"] - first_step) / (last["time"] - first_time)


# About how many bytes a cached answer holds (``SharedLoads`` keeps them within a budget): what
# an entry and its dict cost even when empty, each Python string's own header beside its
# characters, the trace's step array, and a row of the table at the size of a typical one.
ENTRY_BYTES, STRING_BYTES = 1024, 56


def _table_bytes(table: dict) -> int:
    return ENTRY_BYTES + 1024 * len(table["sessions"])


def _trace_bytes(full: dict) -> int:
    texts = [text for column in full["columns"].values() for text in column]
    return ENTRY_BYTES + full["steps"].nbytes + sum(STRING_BYTES + len(text) for text in texts)


def _page_bytes(page: dict) -> int:
    return ENTRY_BYTES + sum(STRING_BYTES + len(row) for row in page["rows"])
