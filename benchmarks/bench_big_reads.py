"""Big reads: what reading a session filled to its caps costs the service, and what it does to
/healthz meanwhile.

One service process on a private Redis.  A session gets a full trace and metric reports as large
as the limits allow (32 names of 100 characters, ~4.3 KB each), ``--reports`` of them (the
history keeps what its caps allow).  Then the session is read whole (the metric history and the
dashboard's session view followed page by page), to size every answer; ``--passes`` more such
reads, one after another, give the service's CPU time per whole read (its process, from /proc);
and /healthz is probed ``--probes`` times alone and as often while six processes read the
session whole, over and over (``tests/service/big_reads_support.py``, shared with
``tests/service/test_big_reads.py``).  Beside it, ``big_reads_cpu.py`` measures the service's
CPU per answer in one process, without HTTP: the time each answer holds the event loop.

With ``--before DIR`` (an export of an older tree: its ``service`` and ``client`` folders), the
same runs against that code too, ``--pairs`` times, alternating before and after.  With
``--before-whole`` that code is older than the history's pages: its reads are one GET of the
history and one of the dashboard's session view.

    python benchmarks/bench_big_reads.py --reports 1500
    python benchmarks/bench_big_reads.py --reports 1500 --before /tmp/before --pairs 3 --out FILE
    python benchmarks/bench_big_reads.py --reports 10000 --before /tmp/before --before-whole   # before caps
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from harness import process_tree_cpu, redis_server

from zoadamm_service.launch import ServiceProcess
from zoadamm_service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "service")]
support = importlib.import_module("big_reads_support")


def answer_cpu(redis_url: str, reports: int, rounds: int, env: dict | None) -> dict:
    """``big_reads_cpu.py`` on this code (``env``: PYTHONPATH naming an older tree)."""
    script = Path(__file__).with_name("big_reads_cpu.py")
    out = subprocess.run([sys.executable, str(script), redis_url, str(reports), str(rounds)], check=True,
                         capture_output=True, text=True, env={**os.environ, **(env or {})}).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def run(redis_url: str, reports: int, probes: int, passes: int, before: str | None, paged: bool) -> dict:
    env = {"PYTHONPATH": os.pathsep.join([f"{before}/service", f"{before}/client"])} if before else None
    settings = Settings()
    with ServiceProcess(redis_url, env=env) as svc, httpx.Client(base_url=svc.url, timeout=120) as http:
        assert svc.proc is not None
        sid = support.fill(http, settings, extra=reports * 4300 / settings.metric_history_bytes)
        sizes = support.big_reads(http, sid, paged=paged)
        cpu, wall = process_tree_cpu(svc.proc.pid), time.perf_counter()
        for _ in range(passes):
            support.big_reads(http, sid, paged=paged)
        cpu, wall = process_tree_cpu(svc.proc.pid) - cpu, time.perf_counter() - wall
        latency = support.healthz_under_reads(svc.url, sid, probes=probes, paged=paged)
    return {"largest_answer_bytes": max(sizes.values()), "answers": len(sizes),
            "service_cpu_ms_per_whole_read": cpu / max(passes, 1) * 1000,
            "wall_ms_per_whole_read": wall / max(passes, 1) * 1000, "healthz_ms": latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=1500)
    parser.add_argument("--probes", type=int, default=150)
    parser.add_argument("--passes", type=int, default=5, help="whole reads timed for the service's CPU")
    parser.add_argument("--before", default=None)
    parser.add_argument("--before-whole", action="store_true", help="the code before has no history pages")
    parser.add_argument("--pairs", type=int, default=1, choices=range(1, 5),
                        help="with --before: runs of before then after")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results") / "big_reads.json"))
    args = parser.parse_args()
    result: dict = {"command": "python benchmarks/bench_big_reads.py " + " ".join(sys.argv[1:]),
                    "reports_sent": args.reports, "readers": support.READERS, "pairs": []}
    with redis_server() as redis_url:
        base = redis_url.rsplit("/", 1)[0]
        for pair in range(args.pairs if args.before else 1):  # a database of its own for each run
            runs = {}
            if args.before:
                runs["before"] = run(f"{base}/{2 * pair}", args.reports, args.probes, args.passes, args.before,
                                     paged=not args.before_whole)
                if not args.before_whole:
                    env = {"PYTHONPATH": os.pathsep.join([f"{args.before}/service", f"{args.before}/client"])}
                    runs["before"]["in_process"] = answer_cpu(f"{base}/{8 + 2 * pair}", args.reports, args.passes, env)
            runs["after"] = run(f"{base}/{2 * pair + 1}", args.reports, args.probes, args.passes, None, paged=True)
            runs["after"]["in_process"] = answer_cpu(f"{base}/{9 + 2 * pair}", args.reports, args.passes, None)
            result["pairs"].append(runs)
            print(json.dumps(runs), flush=True)
    result["load_average_after"] = os.getloadavg()[0]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
