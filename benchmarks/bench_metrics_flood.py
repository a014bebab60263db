"""What scrapes of /metrics sent as fast as clients can do to everybody else's calls.

/metrics needs no key, so anyone who reaches the service can send it.  One service process
on a private Redis with a few sessions; ``--scrapers`` threads GET /metrics in a loop for
``--seconds`` while another times GET /v1/sessions/{id} over and over; then the same GET
alone.  The figures: that GET's median and 95th percentile latency alone and under the
scrapes, and the scrapes answered per second.

With ``--before DIR`` (an export of an older tree: its ``service`` and ``client`` folders), the
same runs against that code too, ``--pairs`` times, alternating before and after.

    python benchmarks/bench_metrics_flood.py
    python benchmarks/bench_metrics_flood.py --before DIR --before-commit REV --pairs 3 --json FILE
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

import httpx
from harness import add_before_after, before_after

from zoadamm_service.launch import ServiceProcess


def timed_gets(url: str, path: str, until: float) -> list[float]:
    """Latencies in ms of GET ``path``, one after another, until ``until`` (time.monotonic)."""
    spent = []
    with httpx.Client(base_url=url, timeout=60) as http:
        while time.monotonic() < until:
            started = time.perf_counter()
            http.get(path).raise_for_status()
            spent.append((time.perf_counter() - started) * 1e3)
    return spent


def percentiles(spent: list[float]) -> dict:
    ordered = sorted(spent)
    return {"p50_ms": statistics.median(ordered), "p95_ms": ordered[int(0.95 * (len(ordered) - 1))],
            "calls": len(ordered)}


def run(redis_url: str, scrapers: int, seconds: float, before: str | None) -> dict:
    env = {"PYTHONPATH": os.pathsep.join([f"{before}/service", f"{before}/client"])} if before else None
    with ServiceProcess(redis_url, env=env) as svc, httpx.Client(base_url=svc.url, timeout=60) as http:
        ids = [http.post("/v1/sessions", json={"dim": 10, "x0": [0.0] * 10}).json()["id"] for _ in range(4)]
        path = f"/v1/sessions/{ids[0]}"
        alone = timed_gets(svc.url, path, time.monotonic() + seconds)
        until = time.monotonic() + seconds
        scraped: list[list[float]] = [[] for _ in range(scrapers)]
        threads = [threading.Thread(target=lambda k=k: scraped[k].extend(timed_gets(svc.url, "/metrics", until)))
                   for k in range(scrapers)]
        for thread in threads:
            thread.start()
        flooded = timed_gets(svc.url, path, until)
        for thread in threads:
            thread.join()
    return {"alone": percentiles(alone), "under_scrapes": percentiles(flooded),
            "scrapes_per_s": sum(len(s) for s in scraped) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scrapers", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8.0)
    add_before_after(parser)
    args = parser.parse_args()
    command = "python benchmarks/bench_metrics_flood.py " + " ".join(sys.argv[1:])
    result: dict = {"command": command, "scrapers": args.scrapers}
    before_after(args, result, lambda redis_url, before: run(redis_url, args.scrapers, args.seconds, before))


if __name__ == "__main__":
    main()
