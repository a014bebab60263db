"""The service's CPU per tell against the floor of its stack (``tell_floor_app.py``: the same
server, framework and Redis client doing strictly less than any tell must), in one run.

Both are driven by ``bench_sessions.py``'s raw generator (real HTTP, binary frames, every answer
checked), --sessions concurrent sessions of d = --dim, --steps tells each, each side with a
private Redis; the sides alternate, floor first, --pairs times.  The service runs as
``bench_sessions.py`` runs it (API keys, a rate limit that never refuses, metrics).  Printed and
written (--out): each run's CPU per tell of the serving process, and the medians.

    python benchmarks/bench_tell_floor.py --pairs 3 --sessions 64 --steps 200 \\
        --out benchmarks/results/tell_floor.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from pathlib import Path

from bench_sessions import measure, run
from harness import process_tree_cpu, redis_server

from zoadamm_service.launch import ChildProcess, free_port

HERE = Path(__file__).parent


def floor_run(args: argparse.Namespace) -> dict:
    """One run against the floor app: its CPU per tell and the run's throughput."""
    port = free_port()
    with redis_server() as redis_url:
        app = ChildProcess([sys.executable, "-m", "uvicorn", "--factory", "tell_floor_app:create_app", "--app-dir",
                            str(HERE), "--port", str(port), "--log-level", "warning", "--no-access-log",
                            "--no-server-header"], f"http://127.0.0.1:{port}", "the floor app",
                           env={**os.environ, "REDIS_URL": redis_url})
        with app:
            assert app.proc is not None  # started by the with
            cpu = process_tree_cpu(app.proc.pid)
            result = asyncio.run(run(app.url, [""], args.sessions, args.steps, args.dim, "raw"))
            cpu = process_tree_cpu(app.proc.pid) - cpu
    steps = max(result["steps"], 1)
    return {"errors": result["errors"], "steps_per_s": result["steps_per_s"],
            "cpu_ms_per_tell": cpu / steps * 1e3}


def service_run(args: argparse.Namespace) -> dict:
    service_args = argparse.Namespace(sessions=args.sessions, steps=args.steps, dim=args.dim, keys=True,
                                      rate_limit="1000/second", store="redis", generator="raw")
    result = measure(service_args, workers=1)
    return {"errors": result["errors"], "steps_per_s": result["steps_per_s"],
            "cpu_ms_per_tell": result["service_cpu_ms_per_step"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--dim", type=int, default=1400)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"floor": [], "service": []}
    for pair in range(1, args.pairs + 1):
        for side, once in (("floor", floor_run), ("service", service_run)):
            result = once(args)
            runs[side].append(result)
            print(f"pair {pair} {side:>7}: {result['cpu_ms_per_tell']:.3f} ms CPU per tell, "
                  f"{result['steps_per_s']:.0f} tells/s, errors {result['errors']}", flush=True)
    medians = {side: statistics.median(r["cpu_ms_per_tell"] for r in found) for side, found in runs.items()}
    print(f"medians: floor {medians['floor']:.3f} ms, service {medians['service']:.3f} ms, "
          f"service/floor {medians['service'] / medians['floor']:.2f}")
    if args.out:
        args.out.write_text(json.dumps({
            "command": "python benchmarks/bench_tell_floor.py " + " ".join(sys.argv[1:]),
            "median_cpu_ms_per_tell": medians, "service_over_floor": medians["service"] / medians["floor"],
            "load_average_after": os.getloadavg(), "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
