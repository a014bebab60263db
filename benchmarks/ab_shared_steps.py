"""Two workers sharing a step against one worker, with this checkout's code and with another's,
in turns: what a change to the shared-step path did, measured in one run.

``--baseline DIR`` is another checkout of this repository (``git worktree add DIR COMMIT``): its
``client``, ``service`` and ``worker`` packages go first on PYTHONPATH for its own service
process and workers.  Each side has its own service and Redis; in every block each side runs the
single worker, then two ``--join`` workers (``bench_shared_steps.Bench``), so the ratio compares
runs seconds apart.  The final x of the two modes must agree on each side.  The CPU the worker
processes used per step is reported beside the times: on a busy machine it moves less.

    git worktree add /tmp/baseline <commit>
    python benchmarks/ab_shared_steps.py --baseline /tmp/baseline --blocks 6 \
        --json benchmarks/results/ab_shared_steps.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import bench_shared_steps as shared
from harness import redis_server

from zoadamm import Client
from zoadamm_service.launch import ServiceProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="another checkout of this repository")
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    baseline = os.pathsep.join(str(Path(args.baseline, part).resolve()) for part in ("client", "service", "worker"))
    spec = argparse.Namespace(steps=args.steps, q=16, scale=0.1111111, batch_size=128, skip=20)
    env = {"ZOADAMM_LEASE_SECONDS": "2"}
    runs: dict[str, list[dict]] = {"baseline": [], "this": []}
    with (redis_server() as redis_a, redis_server() as redis_b,
          ServiceProcess(redis_a, env={**env, "PYTHONPATH": baseline}) as service_a,
          ServiceProcess(redis_b, env=env) as service_b,
          Client(service_a.url) as client_a, Client(service_b.url) as client_b):
        assert service_a.proc is not None and service_b.proc is not None
        sides = {"baseline": (shared.Bench(spec, service_a.url, client_a, service_a.proc.pid,
                                           shared.redis_pid(redis_a)), baseline),
                 "this": (shared.Bench(spec, service_b.url, client_b, service_b.proc.pid,
                                       shared.redis_pid(redis_b)), None)}
        for block in range(1, args.blocks + 1):
            for side, (bench, path) in sides.items():
                if path is None:  # the workers are this process's children: they inherit it
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = path
                single, two = bench.run(None), bench.run(2)
                if single["crc"] != two["crc"]:
                    raise SystemExit(f"{side}: two workers ended at another x than one")
                run = {"single_ms": 1e3 * single["s_per_step"], "two_ms": 1e3 * two["s_per_step"],
                       "ratio": two["s_per_step"] / single["s_per_step"], "load": two["load_before"],
                       # CPU of the worker processes per step: a busy machine moves it less than time
                       "single_worker_cpu_ms": single["cpu_ms_per_step"]["workers"],
                       "two_workers_cpu_ms": two["cpu_ms_per_step"]["workers"]}
                runs[side].append(run)
                print(f"block {block}/{args.blocks} {side:>8}: one worker {run['single_ms']:5.1f} ms, two "
                      f"{run['two_ms']:5.1f} ms per step ({run['ratio']:.2f}x), worker CPU "
                      f"{run['single_worker_cpu_ms']:.1f} and {run['two_workers_cpu_ms']:.1f} ms per step, "
                      f"load {run['load']:.2f}", flush=True)
    summary = {side: {"ratio_median": statistics.median(r["ratio"] for r in rs),
                      "ratios": [r["ratio"] for r in rs],
                      "single_worker_cpu_ms_median": statistics.median(r["single_worker_cpu_ms"] for r in rs),
                      "two_workers_cpu_ms_median": statistics.median(r["two_workers_cpu_ms"] for r in rs),
                      "runs": rs} for side, rs in runs.items()}
    for side, row in summary.items():
        print(f"{side:>8}: two workers / one, median {row['ratio_median']:.2f} "
              f"(per block {', '.join(f'{r:.2f}' for r in row['ratios'])}); worker CPU per step, median: one "
              f"{row['single_worker_cpu_ms_median']:.1f} ms, two {row['two_workers_cpu_ms_median']:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"baseline_checkout": "DIR", "steps": args.steps, **summary},
                                              indent=2))


if __name__ == "__main__":
    main()
