"""``python healthz_probe.py URL PERIOD_S``: GET URL/healthz every PERIOD_S seconds until stdin
closes, then print one JSON list: each answer's latency in seconds and its status.

A process of its own, so that what it measures is the service's latency, not the wait for the
GIL of the test process (which encodes and decodes tens of megabytes meanwhile)."""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx


def main(url: str, period_s: float) -> None:
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    answers: list[tuple[float, int]] = []
    with httpx.Client(base_url=url, timeout=30) as http:
        while not done.is_set():
            started = time.perf_counter()
            status = http.get("/healthz").status_code
            answers.append((time.perf_counter() - started, status))
            done.wait(period_s)
    print(json.dumps(answers))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
