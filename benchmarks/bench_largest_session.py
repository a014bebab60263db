"""The largest session the service allows, and what its steps do to everybody else's calls.

One service process on a private Redis, its limits set so that a session of d = 2^21 and
q = 4 is the largest allowed (``ZOADAMM_MAX_WORK``), with a checkpoint after every step.  A
session of that size is created and told ``--tells`` steps in frames, each answer carrying x,
while another process polls /healthz every 20 ms (``tests/service/healthz_probe.py``).  The
figures: wall and service CPU per tell, and how long a /healthz sent during a tell waited
(the largest per tell, median over the tells): the time the tell held the process's GIL or
event loop, which every other session's calls wait as well.

With ``--before DIR`` (an export of an older tree: its ``service`` and ``client`` folders), the
same runs against that code too, ``--pairs`` times, alternating before and after.

    python benchmarks/bench_largest_session.py --tells 12
    python benchmarks/bench_largest_session.py --tells 12 --before DIR --pairs 3 --json FILE
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from harness import add_before_after, before_after, process_tree_cpu

from zoadamm import wire
from zoadamm_service.launch import ServiceProcess

DIM, Q = 1 << 21, 4
PROBE = Path(__file__).resolve().parents[1] / "tests" / "service" / "healthz_probe.py"
POLL_S = 0.02


def frame_post(http: httpx.Client, path: str, fields: dict, vectors: dict | None = None) -> httpx.Response:
    response = http.post(path, content=wire.encode(fields, vectors or {}),
                         headers={"Content-Type": wire.MEDIA_TYPE, "Accept": wire.MEDIA_TYPE})
    response.raise_for_status()
    return response


def run(redis_url: str, tells: int, before: str | None) -> dict:
    env = {"ZOADAMM_MAX_DIM": str(DIM), "ZOADAMM_MAX_WORK": str(DIM * Q), "ZOADAMM_CHECKPOINT_EVERY": "1"}
    if before:
        env["PYTHONPATH"] = os.pathsep.join([f"{before}/service", f"{before}/client"])
    with ServiceProcess(redis_url, env=env) as svc, httpx.Client(base_url=svc.url, timeout=120) as http:
        assert svc.proc is not None
        x0 = np.linspace(-1, 1, DIM, dtype=np.float32)
        sid = wire.decode(frame_post(http, "/v1/sessions", {"dim": DIM, "directions": Q, "lr": 0.01},
                                     {"x0": x0}).content)[0]["id"]
        probe = subprocess.Popen([sys.executable, str(PROBE), svc.url, str(POLL_S)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        spans, walls = [], []
        try:
            assert probe.stdout is not None and probe.stdout.readline() == "polling\n"
            cpu = process_tree_cpu(svc.proc.pid)
            for step in range(tells):
                started = time.monotonic()
                frame_post(http, f"/v1/sessions/{sid}/tell", {"step": step, "f_x": 1.0, "f_plus": [1.5, 0.5, 1.0, 2.0]})
                spans.append((started, time.monotonic()))
                walls.append(spans[-1][1] - started)
            cpu = process_tree_cpu(svc.proc.pid) - cpu
        finally:
            out, _ = probe.communicate("", timeout=120)
    answers = json.loads(out)
    waits = []
    for start, end in spans:
        meanwhile = [latency for sent, latency, _ in answers if sent < end and sent + latency > start]
        waits.append(max(meanwhile, default=0.0))
    shares = [wait / (end - start) for wait, (start, end) in zip(waits, spans, strict=True)]
    return {"tell_ms": statistics.median(walls) * 1e3, "service_cpu_ms_per_tell": cpu / tells * 1e3,
            "healthz_wait_ms": statistics.median(waits) * 1e3, "healthz_wait_max_ms": max(waits) * 1e3,
            "healthz_wait_share": statistics.median(shares)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tells", type=int, default=12)
    add_before_after(parser)
    args = parser.parse_args()
    command = "python benchmarks/bench_largest_session.py " + " ".join(sys.argv[1:])
    result: dict = {"command": command, "dim": DIM, "directions": Q}
    before_after(args, result, lambda redis_url, before: run(redis_url, args.tells, before))


if __name__ == "__main__":
    main()
