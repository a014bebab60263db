"""``python healthz_probe.py URL PERIOD_S``: GET URL/healthz every PERIOD_S seconds until stdin
closes; a line "polling" once the first answer came, then at the end one JSON list: for each
answer, when its request left (``time.monotonic``, one clock for every process of the machine),
its latency in seconds and its status.

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
    answers: list[tuple[float, float, int]] = []
    with httpx.Client(base_url=url, timeout=30) as http:
        while not done.is_set():
            started = time.monotonic()
            status = http.get("/healthz").status_code
            answers.append((started, time.monotonic() - started, status))
            if len(answers) == 1:
                print("polling", flush=True)  # the test starts its work once the probe polls
            done.wait(period_s)
    print(json.dumps(answers))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
