"""Time ``zoadamm.direction`` against numpy's ``standard_normal`` for one float32 vector.

The goal: a seed-derived direction costs no more than the numpy draw it replaces, at the
paper's largest model (d = 2,806,751).  The contenders run round-robin in one process, so drift
(turbo, other load) hits all of them alike.

    python benchmarks/bench_directions.py [--dim 2806751] [--repeats 30] [--out] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

import zoadamm

BASELINE = "numpy standard_normal"


def contenders(dim: int, reuse_buffer: bool) -> dict[str, Callable[[int], object]]:
    """Name -> call(step).  Each call draws a fresh vector: the step changes every time."""
    out = np.empty(dim, dtype=np.float32) if reuse_buffer else None
    rng = np.random.default_rng(0)
    return {
        "zoadamm sphere": lambda step: zoadamm.direction(1, step, 0, dim, "sphere", out=out),
        "zoadamm gaussian": lambda step: zoadamm.direction(1, step, 0, dim, "gaussian", out=out),
        BASELINE: lambda step: rng.standard_normal(dim, dtype=np.float32, out=out),
    }


def measure(dim: int, repeats: int, warmup: int, reuse_buffer: bool) -> dict[str, list[float]]:
    """Seconds per call for each contender, ``repeats`` samples each, interleaved."""
    calls = contenders(dim, reuse_buffer)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for step in range(warmup + repeats):  # warm-up also builds the quantile table once
        for name, call in calls.items():
            start = time.perf_counter()
            call(step)
            elapsed = time.perf_counter() - start
            if step >= warmup:
                times[name].append(elapsed)
    return times


def summarize(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    baseline = statistics.median(times[BASELINE])
    return {
        name: {
            "min_ms": 1e3 * min(samples),
            "median_ms": 1e3 * statistics.median(samples),
            "ratio_to_numpy": statistics.median(samples) / baseline,  # < 1: faster than numpy
        }
        for name, samples in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2_806_751, help="vector length (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per contender")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per contender first")
    parser.add_argument("--out", action="store_true", help="write into one preallocated buffer")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    if args.dim < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--dim and --repeats must be >= 1, --warmup >= 0")

    results = summarize(measure(args.dim, args.repeats, args.warmup, args.out))
    setup = {
        "dim": args.dim, "repeats": args.repeats, "out_buffer": args.out,
        "numpy": np.__version__, "python": sys.version.split()[0], "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps({**setup, "results": results}, indent=2))
        return 0
    print(", ".join(f"{key}={value}" for key, value in setup.items()))
    print(f"{'':24}{'min ms':>10}{'median ms':>12}{'median / numpy':>16}")
    for name, row in results.items():
        print(f"{name:24}{row['min_ms']:10.2f}{row['median_ms']:12.2f}{row['ratio_to_numpy']:16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
