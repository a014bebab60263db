"""Milliseconds per ZO step evaluation of the MNIST objective, batched (grouped) vs a plain loop.

One ZO step evaluation is f(x) and f(x + mu u_i) for i < q on one minibatch of 128, including
the generation of the q directions with ``zoadamm.direction``.  Also timed, per model size:

- lean in-process step: one direction, f(x) and f(x + mu u) (2 forward passes), the ZO
  coefficient, and ``zoadamm.adamm_update``: the floor for a ZO-AdaMM step in one process;
- FO step evaluation: forward + backward by autograd, gradient copied out as float32.

    python benchmarks/bench_zo_forward.py --scales 0.1111111 119.888885 --q 1 8 --repeats 10

Each cell is the median over ``--repeats`` runs (after two warm-up runs), with the minimum in
brackets.  The timed calls of one model size take turns, so a noisy neighbour slows them all
alike.  ``--json PATH`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

import zoadamm
from zoadamm_worker.mnist import load_mnist
from zoadamm_worker.model import initial_parameters
from zoadamm_worker.objective import DirectionSpec, MnistObjective
from zoadamm_worker.threads import use_torch_threads

MU, LR, SEED = 1e-3, 1e-3, 0
CONFIG = zoadamm.AdaMMConfig()


def time_ms(calls: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """{name: (median ms, min ms)}, the calls taking turns within every repeat."""
    for fn in calls.values():
        fn(), fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - start))
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def lean_step(objective: MnistObjective, state: zoadamm.AdaMMState, batch, u: np.ndarray) -> None:
    """One in-process ZO-AdaMM step with q = 1: the direction is generated once and reused as
    the gradient buffer (g = c u is exactly what ``assemble_gradient`` builds for q = 1)."""
    step = state.step
    zoadamm.direction(SEED, step, 0, objective.dim, "sphere", out=u[0])
    f_x, f_plus, _ = objective.zo_losses(state.x, batch, u, MU)
    c = zoadamm.zo_coefficients(f_x, f_plus, None, mu=MU, dim=objective.dim)
    gradient = u[0]
    gradient *= np.float32(c[0])
    zoadamm.adamm_update(state, gradient, LR, CONFIG)


def bench_scale(scale: float, qs: list[int], repeats: int, data) -> list[dict]:
    objective = MnistObjective(scale, data)
    x = initial_parameters(scale, SEED)
    batch = objective.batch(0, 0)
    state = zoadamm.AdaMMState.start(x)
    u = np.empty((1, objective.dim), dtype=np.float32)
    gradient = np.empty(objective.dim, dtype=np.float32)
    calls: dict[str, Callable[[], object]] = {
        "lean step (q=1)": lambda: lean_step(objective, state, batch, u),
        "FO fwd+bwd": lambda: objective.gradient(x, batch, out=gradient),
    }
    for q in qs:
        spec = DirectionSpec(SEED, 1, q)
        calls[f"grouped {q}"] = partial(objective.zo_losses, x, batch, spec, MU, implementation="grouped")
        calls[f"loop {q}"] = partial(objective.zo_losses, x, batch, spec, MU, implementation="loop")
        calls[f"directions only {q}"] = partial(zoadamm.directions, SEED, 1, q, objective.dim)
    timed = time_ms(calls, repeats)
    return [{"d": objective.dim, "scale": scale, "q": q, "threads": torch.get_num_threads(),
             **{name: timed[f"{name} {q}"] for name in ("grouped", "loop", "directions only")},
             "lean step (q=1)": timed["lean step (q=1)"], "FO fwd+bwd": timed["FO fwd+bwd"]}
            for q in qs]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1 / 9, 119.888885])
    parser.add_argument("--q", type=int, nargs="+", default=[1, 8], help="directions per step")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all CPUs)")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: the data cache)")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    use_torch_threads(args.threads)
    data = load_mnist("auto", args.data_dir)
    rows = [row for scale in args.scales for row in bench_scale(scale, args.q, args.repeats, data)]
    columns = ["grouped", "loop", "directions only", "lean step (q=1)", "FO fwd+bwd"]
    print(f"ms per call, batch 128, median [min] of {args.repeats}, {rows[0]['threads']} torch threads")
    print(f"{'d':>10} {'q':>3} " + " ".join(f"{c:>17}" for c in columns))
    for row in rows:
        cells = [f"{row[c][0]:.2f} [{row[c][1]:.2f}]" for c in columns]
        print(f"{row['d']:>10,} {row['q']:>3} " + " ".join(f"{c:>17}" for c in cells))
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(rows, stream, indent=2)


if __name__ == "__main__":
    main()
