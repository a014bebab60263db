"""Big reads: what reading a session filled to its caps costs the service, and what it does to
/healthz meanwhile.

One service process on a private Redis.  A session gets a full trace and metric reports as large
as the limits allow (32 names of 100 characters, ~4.3 KB each), ``--reports`` of them (the
history keeps what its caps allow).  Then the session is read whole, once, to size every answer
(the metric history followed page by page), and /healthz is probed ``--probes`` times alone and
as often while six processes read the session whole, over and over
(``tests/service/big_reads_support.py``, shared with ``tests/service/test_big_reads.py``).

With ``--before DIR`` (an export of an older tree: its ``service`` and ``client`` folders), the
same runs against that code first, whose reads are one GET of the history and one of the
dashboard's session view.

    python benchmarks/bench_big_reads.py --reports 1500
    python benchmarks/bench_big_reads.py --reports 10000 --before /tmp/before   # the code before caps
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

import httpx
from harness import redis_server, service

from zoadamm_service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "service")]
support = importlib.import_module("big_reads_support")


def run(redis_url: str, reports: int, probes: int, before: str | None) -> dict:
    env = {"PYTHONPATH": os.pathsep.join([f"{before}/service", f"{before}/client"])} if before else None
    settings = Settings()
    with service(redis_url, extra_env=env) as url, httpx.Client(base_url=url, timeout=120) as http:
        sid = support.fill(http, settings, extra=reports * 4300 / settings.metric_history_bytes)
        sizes = support.big_reads(http, sid, paged=not before)  # no pages before: the reads come whole
        latency = support.healthz_under_reads(url, sid, probes=probes, paged=not before)
    return {"largest_answer_bytes": max(sizes.values()), "answers": len(sizes), "healthz_ms": latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=1500)
    parser.add_argument("--probes", type=int, default=150)
    parser.add_argument("--before", default=None)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results") / "big_reads.json"))
    args = parser.parse_args()
    result: dict = {"command": "python benchmarks/bench_big_reads.py " + " ".join(sys.argv[1:]),
                    "reports_sent": args.reports, "readers": support.READERS}
    with redis_server() as redis_url:
        if args.before:
            result["before"] = run(redis_url, args.reports, args.probes, args.before)
        result["after"] = run(redis_url.rsplit("/", 1)[0] + "/1", args.reports, args.probes, None)
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
