"""Milliseconds for one step's evaluation of the MNIST objective (f(x) and k perturbed points in
one batched forward pass), by the number of rows and torch threads: what a worker's share of a
split step costs against the whole step.

    python benchmarks/bench_eval_rows.py --batch-size 1024 --rows 17 9 --threads 1 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from zoadamm_worker.mnist import load_mnist
from zoadamm_worker.model import initial_parameters, parameter_count
from zoadamm_worker.objective import MnistObjective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.1111111)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rows", type=int, nargs="+", default=[17, 9])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    objective = MnistObjective(args.scale, load_mnist(), batch_size=args.batch_size,
                               train_limit=args.batch_size * 4, shuffle=False, seed=0)
    x, batch = initial_parameters(args.scale, 0), objective.batch(1, 0)
    rng = np.random.default_rng(0)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for rows in args.rows:
            u = rng.standard_normal((rows - 1, parameter_count(args.scale))).astype(np.float32)
            for _ in range(3):
                objective.zo_losses(x, batch, u, 1e-3, "forward")
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.repeats):
                objective.zo_losses(x, batch, u, 1e-3, "forward")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{threads} thread(s), {rows} rows, batch {args.batch_size}: {1e3 * wall / args.repeats:.1f} ms, "
                  f"CPU {1e3 * cpu / args.repeats:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
