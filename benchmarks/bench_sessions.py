"""Many concurrent sessions against one service: steps/s, latency percentiles, errors, and the
CPU each party spends per step (the load generator, the service, Redis).

Each session is a d = 1,400 quadratic driven by its own asyncio task through the async SDK
(binary frames, one tell per step, every answer decoded and its x used for the next step), so
the service and its store are what is measured, with the generator on the same cores.  The
service runs as users run it: API keys on (one key per session, as independent users), a rate
limit per key set high enough never to refuse, Prometheus metrics on; the run checks that the
service's step counter (scraped from /metrics) saw every step.

    python benchmarks/bench_sessions.py --sessions 64 --steps 40 --service-workers 1 2 3 \\
        --out benchmarks/results/sessions.json

``--generator raw`` drives the same requests with a minimal HTTP/1.1 client on asyncio streams
instead of the SDK (still real HTTP to the real service, every answer checked): it shows what
the service does when the generator costs less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import redis
from harness import process_tree_cpu, redis_server
from load_raw import RawClient

import zoadamm
from zoadamm.sdk import APIError
from zoadamm_service.launch import ServiceProcess
from zoadamm_service.tenants import entry, new_key


def machine_busy_s() -> float:
    """CPU seconds spent by every core (all but idle and iowait), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


async def drive_sdk(url: str, key: str, dim: int, steps: int, seed: int, latencies: list, errors: list) -> None:
    # A client (one keep-alive connection) per session, as independent users would have:
    # one httpx pool shared by 64 tasks spends its time scanning its connections.  The SDK's
    # own retries are on, as users have them: a service that sheds load (503 or 429 with
    # Retry-After) counts on them; an error here is one the retries did not absorb.
    async with zoadamm.AsyncClient(url, api_key=key or None) as client:
        x = np.ones(dim, dtype=np.float32)
        scale = np.linspace(1.0, 10.0, dim, dtype=np.float32)
        try:
            session = await client.sessions.create(dim, x0=x, seed=seed, directions=1, lr=0.01)
            for step in range(steps):
                f_x, f_plus = _values(seed, step, x, scale, dim)
                started = time.perf_counter()
                result = await client.sessions.tell(session.id, step, f_x=f_x, f_plus=[f_plus])
                latencies.append(time.perf_counter() - started)
                if result.step != step + 1 or result.x is None or result.x.size != dim:
                    raise AssertionError(f"unexpected answer to step {step}: {result}")
                x = np.array(result.x)
        except (APIError, AssertionError) as exc:
            errors.append(repr(exc))


async def drive_raw(url: str, key: str, dim: int, steps: int, seed: int, latencies: list, errors: list) -> None:
    client = RawClient(url, key)
    x = np.ones(dim, dtype=np.float32)
    scale = np.linspace(1.0, 10.0, dim, dtype=np.float32)
    try:
        session = await client.create({"dim": dim, "seed": seed, "directions": 1, "lr": 0.01}, x)
        for step in range(steps):
            f_x, f_plus = _values(seed, step, x, scale, dim)
            started = time.perf_counter()
            fields, x = await client.tell(session, {"step": step, "f_x": f_x, "f_plus": [f_plus]})
            latencies.append(time.perf_counter() - started)
            if fields.get("step") != step + 1 or x.size != dim:
                raise AssertionError(f"unexpected answer to step {step}: {fields}")
    except (OSError, ValueError, AssertionError) as exc:
        errors.append(repr(exc))
    finally:
        await client.aclose()


def _values(seed: int, step: int, x: np.ndarray, scale: np.ndarray, dim: int) -> tuple[float, float]:
    u = zoadamm.direction(seed, step, 0, dim)
    xp = x + np.float32(1e-3) * u
    return float(np.sum(scale * x * x)), float(np.sum(scale * xp * xp))


async def run(url: str, keys: list[str], sessions: int, steps: int, dim: int, generator: str) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    drive = drive_sdk if generator == "sdk" else drive_raw
    started = time.perf_counter()
    await asyncio.gather(*(drive(url, keys[seed % len(keys)], dim, steps, seed, latencies, errors)
                           for seed in range(sessions)))
    elapsed = time.perf_counter() - started
    ms = np.array(latencies or [np.nan]) * 1e3
    return {
        "steps": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else None,
        "seconds": elapsed, "steps_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
    }


def _redis_cpu(store: redis.Redis) -> float:
    cpu = store.info("cpu")
    return float(cpu["used_cpu_user"] + cpu["used_cpu_sys"])


def _steps_counted(url: str) -> float:
    """zoadamm_steps_total, summed over the service's processes (its /metrics)."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("zoadamm_steps_total"))


def measure(args: argparse.Namespace, workers: int) -> dict:
    keys = [new_key() for _ in range(args.sessions if args.keys else 0)]
    env = {"ZOADAMM_API_KEYS": ",".join(entry(f"user{i}", k) for i, k in enumerate(keys))} if keys else {}
    if args.rate_limit:
        env["ZOADAMM_RATE_LIMIT"] = args.rate_limit
    with redis_server() as redis_url:
        store = redis.Redis.from_url(redis_url)
        with ServiceProcess(redis_url if args.store == "redis" else None, workers=workers, env=env) as svc:
            assert svc.proc is not None  # started by the with
            load = os.getloadavg()
            redis_cpu, service_cpu, busy = _redis_cpu(store), process_tree_cpu(svc.proc.pid), machine_busy_s()
            own = time.process_time()
            result = asyncio.run(run(svc.url, keys or [""], args.sessions, args.steps, args.dim, args.generator))
            own = time.process_time() - own
            busy = machine_busy_s() - busy
            service_cpu = process_tree_cpu(svc.proc.pid) - service_cpu
            counted = _steps_counted(svc.url)
        redis_cpu = _redis_cpu(store) - redis_cpu
        redis_in = store.info("stats")["total_net_input_bytes"]
    steps = max(result["steps"], 1)
    # CPU per step: what sizes a replica core and a Redis shard (docs/scaling.md).  The setup
    # (creating the sessions) is inside the window, spread over the steps.
    return {
        "sessions": args.sessions, "steps_each": args.steps, "dim": args.dim, "generator": args.generator,
        "service_workers": workers, "store": args.store, "api_keys": len(keys), "rate_limit": args.rate_limit,
        "metrics_steps_counted": counted, **result,
        "generator_cpu_ms_per_step": own / steps * 1e3,
        "service_cpu_ms_per_step": service_cpu / steps * 1e3,
        "redis_cpu_ms_per_step": redis_cpu / steps * 1e3 if args.store == "redis" else None,
        "machine_cpu_ms_per_step": busy / steps * 1e3,
        "machine_cores_busy": busy / result["seconds"],
        # what the rest of the machine (other work, the kernel outside these processes) took
        # meanwhile: a figure measured while this is high is not this software's
        "others_cores_busy": (busy - own - service_cpu - (redis_cpu if args.store == "redis" else 0))
        / result["seconds"],
        "redis_bytes_in_per_step": redis_in / steps if args.store == "redis" else None,
        "loadavg_before": [round(v, 2) for v in load], "cores": os.cpu_count(),
    }


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--dim", type=int, default=1400)
    parser.add_argument("--store", choices=["redis", "memory"], default="redis")
    parser.add_argument("--service-workers", type=int, nargs="+", default=[1],
                        help="service processes (Redis only when > 1); several values run one after the other")
    parser.add_argument("--generator", choices=["sdk", "raw"], default="sdk",
                        help="sdk: zoadamm.AsyncClient per session; raw: a minimal HTTP/1.1 client (load_raw.py)")
    parser.add_argument("--no-keys", dest="keys", action="store_false", help="run the service open (no API keys)")
    parser.add_argument("--rate-limit", default="1000/second",
                        help="ZOADAMM_RATE_LIMIT per key (default far above one session's rate); '' for none")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=Path, help="also write the results (a JSON list) to this file")
    args = parser.parse_args()
    results = []
    for workers in args.service_workers:
        result = measure(args, workers)
        result.update(commit=_commit(), python=platform.python_version())
        results.append(result)
        if not args.json:
            for key, value in result.items():
                print(f"{key:>26}: {value:.4g}" if isinstance(value, float) else f"{key:>26}: {value}")
            print()
    if args.json:
        print(json.dumps(results, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
