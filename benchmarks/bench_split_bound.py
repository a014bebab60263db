"""The bound under workers that share a step: one process evaluating a whole ZO step against
two processes each evaluating its half, in lock-step, with no service, no HTTP and no Redis.

A step of q = 16 directions is 17 rows (f(x) and the 16 perturbed points) of the MNIST objective
on one minibatch of 128.  ``one``: a single process evaluates the 17 rows per step.  ``two``: two
processes evaluate 9 rows each (every worker evaluates f(x) too) and meet at a barrier after each
step, so a step lasts as long as the slower of the two.  No protocol can make two workers
take less than ``two`` per step: its ratio to ``one`` is the best that ``--join`` with two workers
can reach on this machine, whatever the service does.  The modes take turns in every block.

    python benchmarks/bench_split_bound.py --steps 200 --blocks 5 --json benchmarks/results/split_bound.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path

import numpy as np


def evaluate_steps(rows: int, steps: int, batch_size: int, scale: float, barrier, start, out) -> None:
    """Evaluate ``steps`` steps of ``rows`` rows (one torch thread); put ms per step and CPU ms
    per step on ``out``.  ``barrier`` (or None) is met after every step."""
    import torch

    import zoadamm
    from zoadamm_worker.mnist import load_mnist
    from zoadamm_worker.model import initial_parameters
    from zoadamm_worker.objective import MnistObjective

    torch.set_num_threads(1)
    objective = MnistObjective(scale, load_mnist(), batch_size=batch_size, train_limit=batch_size * steps)
    x = initial_parameters(scale, 0)
    directions = np.stack([zoadamm.direction(0, 0, i, objective.dim) for i in range(rows - 1)])
    for index in range(3):  # warm-up
        objective.zo_losses(x, objective.batch(1, index), directions, 1e-3)
    if barrier is not None:
        barrier.wait()
    start.wait()
    wall, cpu = time.perf_counter(), time.process_time()
    for index in range(steps):
        objective.zo_losses(x, objective.batch(1, index), directions, 1e-3)
        if barrier is not None:
            barrier.wait()
    out.put((1e3 * (time.perf_counter() - wall) / steps, 1e3 * (time.process_time() - cpu) / steps))


def run(processes: int, rows: int, args) -> dict:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes) if processes > 1 else None
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=evaluate_steps, args=(rows, args.steps, args.batch_size, args.scale, barrier,
                                                      start, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    start.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return {"ms_per_step": max(r[0] for r in results), "cpu_ms_per_step": [r[1] for r in results],
            "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--q", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--scale", type=float, default=0.1111111)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    whole, half = args.q + 1, -(-args.q // 2) + 1
    runs: dict[str, list[dict]] = {"one": [], "two": []}
    for block in range(1, args.blocks + 1):
        runs["one"].append(run(1, whole, args))
        runs["two"].append(run(2, half, args))
        one, two = runs["one"][-1], runs["two"][-1]
        print(f"block {block}/{args.blocks}: one process {whole} rows {one['ms_per_step']:.2f} ms/step, "
              f"two processes {half} rows each {two['ms_per_step']:.2f} ms/step "
              f"({two['ms_per_step'] / one['ms_per_step']:.2f}x), load {two['load']:.2f}", flush=True)
    ratios = [t["ms_per_step"] / o["ms_per_step"] for o, t in zip(runs["one"], runs["two"], strict=True)]
    summary = {"q": args.q, "batch_size": args.batch_size, "scale": args.scale, "steps": args.steps,
               "rows": {"one": whole, "two": half}, "cores": len(os.sched_getaffinity(0)),
               "ms_per_step": {m: statistics.median(r["ms_per_step"] for r in rs) for m, rs in runs.items()},
               "ratios": ratios, "ratio_median": statistics.median(ratios),
               # how much slower each row gets when both cores evaluate at once
               "cpu_ms_per_row": {m: statistics.median(max(r["cpu_ms_per_step"]) for r in rs) / summary_rows
                                  for m, rs, summary_rows in (("one", runs["one"], whole), ("two", runs["two"], half))},
               "runs": runs}
    print(f"median: one {summary['ms_per_step']['one']:.2f} ms, two {summary['ms_per_step']['two']:.2f} ms; "
          f"two/one per block {', '.join(f'{r:.2f}' for r in ratios)} (median {summary['ratio_median']:.2f}); "
          f"CPU ms per row {summary['cpu_ms_per_row']['one']:.2f} alone, {summary['cpu_ms_per_row']['two']:.2f} "
          f"with both cores evaluating")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
