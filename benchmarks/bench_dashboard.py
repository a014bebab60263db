"""What seeing a run costs: the per-step trace, and 20 open dashboard pages.

Two service processes share one Redis: one keeps the trace (the default), one has it turned
off (ZOADAMM_TRACE_POINTS=0).  One client runs ZO tells (q = 1, d = 1,400 quadratic, x in
every answer, binary frames) against each, in alternating blocks, so machine noise hits both
alike.  Then the same tell loop runs on the traced service while N simulated pages poll the
dashboard as the page does (the table and one session's new points, every second; in a
separate process, as browsers would be), against blocks with no page open.

Reported: median step time per mode and the ratios; bytes written to Redis per step (Redis'
own input byte counter, with and without the trace); Redis commands per second with 1 and
with N pages, to show the shared cache at work.

    python benchmarks/bench_dashboard.py --steps 2000 --blocks 3 --pages 20
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
import redis
from harness import redis_server, service

from zoadamm import Client, directions

DIM = 1400


def quadratic(x: np.ndarray) -> float:
    return float(np.dot(x.astype(np.float64), x))


class Loop:
    """One ZO session driven step by step; ``block(n)`` returns the seconds of each step."""

    def __init__(self, url: str) -> None:
        self.client = Client(url)
        x0 = np.full(DIM, 0.1, np.float32)
        self.session = self.client.sessions.create(DIM, x0=x0, name=f"bench {url}", directions=1, seed=3, lr=1e-3)
        self.info = self.client.sessions.ask(self.session.id)
        self.x, self.step, self.mu = x0, 0, self.info.mu

    def block(self, steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            u = directions(self.info.seed, self.step, 1, DIM, "sphere")
            answer = self.client.sessions.tell(
                self.session.id, self.step, f_x=quadratic(self.x),
                f_plus=[quadratic(self.x + np.float32(self.mu) * u[0])])
            assert answer.x is not None  # answer="x", the default
            self.x, self.step, self.mu = answer.x, answer.step, answer.mu
            times.append(time.perf_counter() - start)
        return times


def pages(url: str, session_id: str, count: int, stop, every_s: float = 1.0) -> None:
    """``count`` pages polling like the dashboard: the table, then one session's new points."""
    import asyncio

    async def page(index: int) -> None:
        since = 0
        async with httpx.AsyncClient(base_url=url) as http:
            await asyncio.sleep(every_s * index / count)  # pages opened at different moments
            while not stop.is_set():
                await http.get("/v1/dashboard/sessions")
                body = (await http.get(f"/v1/dashboard/sessions/{session_id}", params={"since": since})).json()
                if body["trace"]["step"]:
                    since = body["trace"]["step"][-1] + 1
                await asyncio.sleep(every_s)

    async def main() -> None:
        await asyncio.gather(*(page(i) for i in range(count)))

    asyncio.run(main())


def redis_counters(client: redis.Redis) -> tuple[int, int]:
    info = client.info("stats")
    return info["total_net_input_bytes"], info["total_commands_processed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="steps per block (a block must span several polls)")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results") / "dashboard.json"))
    args = parser.parse_args()

    with redis_server() as redis_url, service(redis_url) as traced_url, \
            service(redis_url, extra_env={"ZOADAMM_TRACE_POINTS": "0"}) as plain_url:
        r = redis.Redis.from_url(redis_url)
        traced, plain = Loop(traced_url), Loop(plain_url)
        traced.block(30), plain.block(30)  # warm both
        times: dict[str, list[float]] = {
            "no trace": [], "trace": [], "trace + 1 page": [], f"trace + {args.pages} pages": []}
        written: dict[str, list[float]] = {"no trace": [], "trace": []}
        commands: dict[str, list[tuple[int, float]]] = {}
        for _ in range(args.blocks):
            for name, loop in (("no trace", plain), ("trace", traced)):
                b0, c0 = redis_counters(r)
                t0 = time.perf_counter()
                times[name] += loop.block(args.steps)
                b1, c1 = redis_counters(r)
                written[name].append((b1 - b0) / args.steps)
                commands.setdefault(name, []).append((c1 - c0, time.perf_counter() - t0))
            for count in (1, args.pages):
                name = f"trace + {count} page" + ("s" if count > 1 else "")
                stop = multiprocessing.Event()
                proc = multiprocessing.Process(target=pages, args=(traced_url, traced.session.id, count, stop))
                proc.start()
                time.sleep(1.5)  # every page has polled once
                _, c0 = redis_counters(r)
                t0 = time.perf_counter()
                block = traced.block(args.steps)
                _, c1 = redis_counters(r)
                elapsed = time.perf_counter() - t0
                stop.set()
                proc.join()
                times[name] += block
                commands.setdefault(name, []).append((c1 - c0, elapsed))
        base = statistics.median(times["no trace"])
        rows = {name: {"median_ms": 1e3 * statistics.median(t), "ratio": statistics.median(t) / base}
                for name, t in times.items()}
        # Redis commands per second, the tells' own included (the "trace" row has no page open)
        per_second = {name: sum(c for c, _ in v) / sum(t for _, t in v) for name, v in commands.items()}
        result = {
            "dim": DIM, "steps_per_block": args.steps, "blocks": args.blocks, "pages": args.pages,
            "step_time": rows,
            "bytes_to_redis_per_step": {k: statistics.median(v) for k, v in written.items()},
            "redis_commands_per_s": per_second,
        }
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
