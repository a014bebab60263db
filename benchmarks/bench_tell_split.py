"""Where the service's CPU per tell goes: HTTP, validation, math, Redis, under real load.

The service runs as in bench_sessions.py (one process, Redis, API keys, a rate limit, metrics)
and 64 sessions at d = 1,400 tell steps through it; py-spy samples the service process (every
thread, busy samples only) for ``--seconds`` while the load runs.  Each sample is charged to a
part by its innermost frame that names one (numpy, json and asyncio frames are passed over, so
numpy work counts for whoever called it), and the service's CPU per step, measured from /proc
over the same window, is split in the samples' proportions:

  http        uvicorn (httptools parsing, the protocol), Starlette/FastAPI routing, the
              middleware (keys, rate limit logic, headers, request metrics), Prometheus
  validation  reading and decoding the body (the frame, JSON), pydantic, the values' checks,
              encoding the answer
  math        the ZO-AdaMM step: direction, gradient estimate, AdaMM update, checksums,
              journal and trace records
  redis       the Redis client (commands built, replies parsed, the connection pool), the
              rate limit's counter, the store module; Redis's own CPU is reported beside it
  session     the session rules around them (domain/sessions.py, locks, the replica cache)
  loop        the event loop itself (uvloop's C code: sockets, callbacks), seen as a sample
              with no Python frame above the loop's

    python benchmarks/bench_tell_split.py --seconds 8 --out benchmarks/results/tell_split.json

Needs py-spy (requirements-dev.txt) and the right to trace the service process (root, or
ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis
from bench_sessions import run
from harness import process_tree_cpu, redis_server

from zoadamm_service.launch import ServiceProcess
from zoadamm_service.tenants import entry, new_key

# (part, pattern on a frame's "function (file:line)") in the order they are tried per frame
RULES = [
    ("math", r"^checksum \(zoadamm/wire\.py"),
    ("math", r"zoadamm/(optimizer|adamm|directions|estimators|schedule)\.py|domain/(finite|journal|trace|replica)\.py"),
    ("validation", r"zoadamm/(wire|_validate)\.py|api/(codec|idempotency|schemas)\.py|domain/inputs\.py|pydantic"),
    ("redis", r"redis/|limits/|zoadamm_service/store/|hiredis"),
    ("http", r"uvicorn/|starlette/|fastapi/|httptools|api/(edge|auth|ratelimit|pipeline|lean_route|routes)\.py|"
             r"telemetry/|prometheus_client/|tenants\.py|anyio/|opentelemetry|h11/"),
    ("session", r"domain/|zoadamm_service/"),
]
# library frames that do work for whoever calls them, and the frames that run the event loop
PASSED_OVER = re.compile(r"\((numpy|json|asyncio|re|concurrent|importlib)/|\(<frozen|"
                         r"\((contextlib|functools|enum|typing|abc|_collections_abc|threading|selectors|typing_extensions)\.py|^<module>|cli\.py|"
                         r"\(uvicorn/(main|server|_compat)\.py|\(gunicorn/|uvicorn_worker")
PARTS = ("http", "validation", "math", "redis", "session", "loop")


def classify(frames: list[str]) -> str:
    """The part a sample's stack (outermost frame first) is charged to."""
    for frame in reversed(frames):
        for part, pattern in RULES:
            if re.search(pattern, frame):
                return part
    return "loop"


def split(raw: str) -> tuple[collections.Counter, int]:
    """Samples per part from py-spy's raw (collapsed) output."""
    parts: collections.Counter = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not PASSED_OVER.search(f)]
        parts[classify(frames)] += int(count)
        total += int(count)
    return parts, total


def _redis_cpu(store: redis.Redis) -> float:
    cpu = store.info("cpu")
    return float(cpu["used_cpu_user"] + cpu["used_cpu_sys"])


def measure(args: argparse.Namespace) -> dict:
    keys = [new_key() for _ in range(args.sessions)]
    env = {"ZOADAMM_API_KEYS": ",".join(entry(f"user{i}", k) for i, k in enumerate(keys)),
           "ZOADAMM_RATE_LIMIT": args.rate_limit}
    with redis_server() as redis_url, ServiceProcess(redis_url, env=env) as svc:
        assert svc.proc is not None
        store = redis.Redis.from_url(redis_url)
        asyncio.run(run(svc.url, keys, args.sessions, 10, args.dim, args.generator))  # warm up
        out = Path(tempfile.mkdtemp(prefix="zoadamm-split-")) / "samples.txt"
        result: dict = {}
        # the load runs in a thread of this process while py-spy samples the service; the CPU
        # per step is over the whole load, the proportions over the window inside it
        load = threading.Thread(target=lambda: result.update(asyncio.run(
            run(svc.url, keys, args.sessions, args.steps, args.dim, args.generator))))
        cpu, rcpu = process_tree_cpu(svc.proc.pid), _redis_cpu(store)
        load.start()
        time.sleep(1.0)  # past the new sessions' creation
        subprocess.run(["py-spy", "record", "-p", str(svc.proc.pid), "-o", str(out), "-f", "raw", "-r",
                        str(args.rate), "-d", str(args.seconds), "--nonblocking"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        window_ended = load.is_alive()
        load.join()
        cpu, rcpu = process_tree_cpu(svc.proc.pid) - cpu, _redis_cpu(store) - rcpu
        if result.get("errors"):
            raise SystemExit(f"the load had errors: {result['first_error']}")
        if not window_ended:
            raise SystemExit("the load ended before the sampling window: raise --steps")
    steps = result["steps"]
    parts, total = split(out.read_text())
    per_step_us = cpu / max(steps, 1) * 1e6
    return {
        "dim": args.dim, "sessions": args.sessions, "generator": args.generator, "rate_limit": args.rate_limit,
        "api_keys": len(keys), "steps": steps, "steps_per_s": result["steps_per_s"], "window_s": args.seconds,
        "samples": total, "service_cpu_us_per_step": per_step_us,
        "redis_server_cpu_us_per_step": rcpu / max(steps, 1) * 1e6, "p99_ms": result["p99_ms"],
        "split_us_per_step": {p: per_step_us * parts[p] / max(total, 1) for p in PARTS},
        "split_fraction": {p: parts[p] / max(total, 1) for p in PARTS},
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--dim", type=int, default=1400)
    parser.add_argument("--seconds", type=int, default=8, help="py-spy's sampling window")
    parser.add_argument("--steps", type=int, default=400, help="steps per session (the load must outlast the window)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--generator", choices=["sdk", "raw"], default="raw")
    parser.add_argument("--rate-limit", default="1000/second")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = measure(args)
    print(f"d = {result['dim']:,}, {result['sessions']} sessions, {result['steps_per_s']:.0f} steps/s, "
          f"{result['samples']} samples")
    print(f"service CPU per step: {result['service_cpu_us_per_step']:.0f} us; Redis server: "
          f"{result['redis_server_cpu_us_per_step']:.0f} us")
    for part in PARTS:
        print(f"{part:>11}: {result['split_us_per_step'][part]:6.0f} us  ({100 * result['split_fraction'][part]:.0f}%)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
