"""The tables of what one caller's load does to everybody else's calls (a session at the work
limit, scrapes of /metrics sent as fast as clients can), for ``tables.py``, which registers and
renders them."""

from __future__ import annotations

from table_cells import load, rows


def largest_session() -> str:
    result = load("largest_session.json")
    body = [[f"{code}, pair {i}", f"{run['tell_ms']:.0f} ms", f"{run['service_cpu_ms_per_tell']:.0f} ms",
             f"{run['healthz_wait_ms']:.1f} ms ({run['healthz_wait_share']:.0%})",
             f"{run['healthz_wait_max_ms']:.1f} ms"]
            for i, pair in enumerate(result["pairs"], 1) for code, run in pair.items()]
    return rows(["", "tell, median", "service CPU per tell", "/healthz's longest wait in a tell: median (share of "
                 "the tell)", "the longest of all"], body)


def metrics_flood() -> str:
    result = load("metrics_flood.json")
    body = [[f"{code}, pair {i}", f"{run['alone']['p50_ms']:.1f} / {run['alone']['p95_ms']:.1f} ms",
             f"{run['under_scrapes']['p50_ms']:.1f} / {run['under_scrapes']['p95_ms']:.1f} ms",
             f"{run['scrapes_per_s']:.0f}"]
            for i, pair in enumerate(result["pairs"], 1) for code, run in pair.items()]
    return rows(["", "a session's GET alone: p50 / p95", f"the same under {result['scrapers']} scrapers: p50 / p95",
                 "scrapes answered per second"], body)
