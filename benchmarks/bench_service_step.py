"""A ZO step through the service against the lean in-process step, on the paper's CNN.

Lean in-process step: the step's directions, f(x) and f(x + mu u) on one minibatch of 128 (one
batched forward pass), and the AdaMM update, all in this process.

Service step: the same evaluation, plus the tell over HTTP on loopback to a `zoadamm-service`
process keeping the session in Redis (``--store memory``: the embedded store), vectors in
binary frames.  Three client modes:
  plain     the answer carries x (d floats back every step)
  mirror    the client applies the same update; the answer carries a CRC and q coefficients
  pipeline  mirror, and the tell travels while the next step is evaluated

Modes run in alternating blocks so machine noise hits all of them alike; the ratios are the
result.  Also reports bytes on the wire and written to Redis per step.

With ``--sets``, every mode runs once per feasible set (those of ``bench_projection.py``: box
x0 -+ 2 lr, the l2 ball around x0 of radius lr sqrt(d) / 2, ...), all in the same alternating
blocks, and each set's steps are also given as a ratio to the same mode with no set.

    python benchmarks/bench_service_step.py --scales 0.1111111 119.888885 --steps 60
    python benchmarks/bench_service_step.py --scales 0.1111111 --steps 40 --blocks 5 --store memory
    python benchmarks/bench_service_step.py --scales 0.1111111 119.888885 --steps 10 --blocks 5 \
        --sets none box l2 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import httpx
import numpy as np
import redis
from bench_projection import SETS, feasible_sets
from harness import redis_server, service

import zoadamm
from zoadamm import Optimizer, SessionConfig
from zoadamm.sdk import fast_switching
from zoadamm_worker.mnist import load_mnist
from zoadamm_worker.model import initial_parameters
from zoadamm_worker.objective import MnistObjective
from zoadamm_worker.threads import use_torch_threads
from zoadamm_worker.transport import lean_client

MODES = ("lean", "plain", "mirror", "pipeline")


class Counter:
    """Bytes on the wire, from httpx's event hooks (bodies only; headers add ~200 B each way).
    Setup (creating the session with x0) is left out: only the measured steps count."""

    def __init__(self) -> None:
        self.sent = self.received = 0

    def request(self, request: httpx.Request) -> None:
        self.sent += len(request.content)

    def response(self, response: httpx.Response) -> None:
        response.read()
        self.received += len(response.content)


def lean_steps(objective, x0, seed, steps, q, constraint=None):
    config = SessionConfig(dim=x0.size, seed=seed, directions=q, constraint=constraint)
    opt = Optimizer.start(config, x0)
    work = np.empty(x0.size, dtype=np.float32)
    batches = objective.batches(1)

    def step():
        dirs = zoadamm.directions(seed, opt.step, q, x0.size)
        f_x, f_plus, _ = objective.zo_losses(opt.state.x, next(batches), dirs, opt.mu)
        opt.apply(opt.zo_record(f_x, f_plus), work, directions=dirs)

    return step


def service_steps(objective, x0, seed, url, mode, q, counter, constraint=None):
    client = lean_client(url)  # the workers' client
    client.http.event_hooks = {"request": [counter.request], "response": [counter.response]}
    run = zoadamm.RemoteOptimizer.create(
        client, x0, mirror=mode != "plain", pipeline=mode == "pipeline", seed=seed, directions=q,
        constraint=constraint,
    )
    batches = objective.batches(1)

    def step():
        f_x, f_plus, _ = objective.zo_losses(run.x, next(batches), run.directions(), run.mu)
        run.tell(f_x=f_x, f_plus=f_plus)

    return step, run


def measure(scale: float, steps: int, blocks: int, q: int, data, redis_url: str, url: str,
            sets: tuple[str, ...] = ("none",)) -> list[dict]:
    """One result per set: each mode's median ms per step, all (set, mode) pairs in turns."""
    objective = MnistObjective(scale, data, batch_size=128)
    x0 = initial_parameters(scale, 0)
    constraints = feasible_sets(x0)
    runners, remotes, counters = {}, {}, {}
    for name in sets:
        runners[(name, "lean")] = lean_steps(objective, x0, 7, steps * blocks + 2, q, constraints[name])
        for mode in MODES[1:]:
            counters[(name, mode)] = Counter()
            runners[(name, mode)], remotes[(name, mode)] = service_steps(
                objective, x0, 7, url, mode, q, counters[(name, mode)], constraints[name])
    for run in runners.values():  # warm up: first-call allocations, connections, caches
        run()
    times: dict = {key: [] for key in runners}
    redis_in = {key: 0 for key in runners}
    wire = {key: [0, 0] for key in runners}
    stats = redis.Redis.from_url(redis_url)
    for _ in range(blocks):
        for key, run in runners.items():
            before = stats.info("stats")["total_net_input_bytes"]
            counter = counters.get(key, Counter())
            sent, received = counter.sent, counter.received
            started = time.perf_counter()
            for _ in range(steps):
                run()
            if key in remotes:
                remotes[key].flush()
            times[key].append((time.perf_counter() - started) / steps * 1e3)
            redis_in[key] += stats.info("stats")["total_net_input_bytes"] - before
            wire[key][0] += counter.sent - sent
            wire[key][1] += counter.received - received
    results = [_summary(name, objective.dim, q, steps, blocks, times, redis_in, wire) for name in sets]
    for remote in remotes.values():
        remote.close()
    return results


def _summary(name: str, dim: int, q: int, steps: int, blocks: int, times, redis_in, wire) -> dict:
    result: dict[str, Any] = {"d": dim, "q": q, "steps_per_block": steps, "blocks": blocks, "constraint": name}
    lean = statistics.median(times[(name, "lean")])
    for mode in MODES:
        ms = statistics.median(times[(name, mode)])
        result[mode] = {"ms_per_step": ms, "ratio_to_lean": ms / lean}
        if ("none", mode) in times:
            result[mode]["ratio_to_no_set"] = ms / statistics.median(times[("none", mode)])
        if mode != "lean":
            n = steps * blocks
            result[mode].update(
                wire_bytes_sent=wire[(name, mode)][0] / n, wire_bytes_received=wire[(name, mode)][1] / n,
                redis_bytes_written=redis_in[(name, mode)] / n,
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+", default=[1 / 9, 119.888885])
    parser.add_argument("--steps", type=int, default=40, help="steps per block")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--directions", type=int, default=1)
    parser.add_argument("--store", choices=["redis", "memory"], default="redis",
                        help="the service's store (memory: the embedded store; no Redis bytes then)")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=["none"],
                        help="feasible sets to run every mode under (bench_projection.py's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    use_torch_threads(1)
    data = load_mnist()
    results = []
    # as the workers do while they pipeline: the sending thread gets the GIL sooner
    with redis_server() as redis_url, service(redis_url if args.store == "redis" else None) as url, \
            fast_switching():
        for scale in args.scales:
            results += measure(scale, args.steps, args.blocks, args.directions, data, redis_url, url,
                               tuple(args.sets))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"d = {r['d']:,}, q = {r['q']}, set {r['constraint']}, {r['blocks']} blocks of "
              f"{r['steps_per_block']} steps")
        print(f"{'mode':>10} {'ms/step':>9} {'x lean':>7} {'x no set':>8} {'wire out B':>11} {'wire in B':>11} "
              f"{'redis B':>9}")
        for mode in MODES:
            m = r[mode]
            extra = "" if mode == "lean" else (
                f" {m['wire_bytes_sent']:>11,.0f} {m['wire_bytes_received']:>11,.0f} {m['redis_bytes_written']:>9,.0f}")
            print(f"{mode:>10} {m['ms_per_step']:>9.2f} {m['ratio_to_lean']:>7.2f} "
                  f"{m.get('ratio_to_no_set', 1.0):>8.3f}{extra}")


if __name__ == "__main__":
    main()
