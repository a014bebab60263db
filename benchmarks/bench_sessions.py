"""Many concurrent sessions against one service: steps/s, latency percentiles, errors.

Each session is a d = 1,400 quadratic driven by its own asyncio task through the async SDK
(binary frames, one tell per step), so the service and its store are what is measured.

    python benchmarks/bench_sessions.py --sessions 64 --steps 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import numpy as np
import redis
from harness import process_tree_cpu, redis_server

import zoadamm
from zoadamm.sdk import APIError
from zoadamm_service.launch import ServiceProcess


async def drive(client: zoadamm.AsyncClient, dim: int, steps: int, seed: int, latencies: list, errors: list) -> None:
    x = np.ones(dim, dtype=np.float32)
    scale = np.linspace(1.0, 10.0, dim, dtype=np.float32)
    try:
        session = await client.sessions.create(dim, x0=x, seed=seed, directions=1, lr=0.01)
        for step in range(steps):
            u = zoadamm.direction(seed, step, 0, dim)
            f_x = float(np.sum(scale * x * x))
            xp = x + np.float32(1e-3) * u
            f_plus = float(np.sum(scale * xp * xp))
            started = time.perf_counter()
            result = await client.sessions.tell(session.id, step, f_x=f_x, f_plus=[f_plus])
            latencies.append(time.perf_counter() - started)
            x = np.array(result.x)
    except APIError as exc:
        errors.append(repr(exc))


async def run(url: str, sessions: int, steps: int, dim: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    # A client (one keep-alive connection) per session, as independent users would have:
    # one httpx pool shared by 64 tasks spends its time scanning its connections.
    clients = [zoadamm.AsyncClient(url, max_retries=0) for _ in range(sessions)]
    started = time.perf_counter()
    await asyncio.gather(*(drive(c, dim, steps, seed, latencies, errors) for seed, c in enumerate(clients)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    ms = np.array(latencies) * 1e3
    return {
        "sessions": sessions, "steps_each": steps, "dim": dim, "steps": len(latencies),
        "errors": len(errors), "first_error": errors[0] if errors else None,
        "steps_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
    }


def _redis_cpu(store: redis.Redis) -> float:
    cpu = store.info("cpu")
    return float(cpu["used_cpu_user"] + cpu["used_cpu_sys"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--dim", type=int, default=1400)
    parser.add_argument("--store", choices=["redis", "memory"], default="redis")
    parser.add_argument("--service-workers", type=int, default=1, help="uvicorn processes (Redis only)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with redis_server() as redis_url:
        store = redis.Redis.from_url(redis_url)
        redis_cpu = _redis_cpu(store)
        with ServiceProcess(redis_url if args.store == "redis" else None, workers=args.service_workers) as svc:
            assert svc.proc is not None  # started by the with
            service_cpu = process_tree_cpu(svc.proc.pid)
            result = asyncio.run(run(svc.url, args.sessions, args.steps, args.dim))
            steps = max(result["steps"], 1)
            result["service_workers"] = args.service_workers
            # CPU per step: what sizes a replica core and a Redis shard (docs/scaling.md)
            result["service_cpu_ms_per_step"] = (process_tree_cpu(svc.proc.pid) - service_cpu) / steps * 1e3
        if args.store == "redis":
            result["redis_cpu_ms_per_step"] = (_redis_cpu(store) - redis_cpu) / steps * 1e3
            stats = store.info("stats")
            result["redis_bytes_in_per_step"] = stats["total_net_input_bytes"] / steps
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value:.4g}" if isinstance(value, float) else f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
