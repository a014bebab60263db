"""Microseconds to rebuild one ZO step's gradient from its coefficients (``zoadamm.assemble_gradient``),
which the service and every mirroring worker do once per step: the directions made a block at a
time (``direction_blocks``) against one ``direction`` call per index, the way it was done before.

Both give the same bits (checked here).  They take turns in every repeat; each cell is the
median over ``--repeats`` with the minimum in brackets.

    python benchmarks/bench_assemble.py --cases 1x1400 16x1400 64x1400 1x2806751 8x2806751
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial

import numpy as np

import zoadamm
from zoadamm import assemble_gradient


def one_at_a_time(coefficients: np.ndarray, dim: int, out: np.ndarray) -> np.ndarray:
    """The reference: one ``direction`` per index, scaled and added in index order."""
    out.fill(0.0)
    u = np.empty(dim, dtype=np.float32)
    for index, c in enumerate(coefficients):
        zoadamm.direction(0, 7, index, dim, "sphere", out=u)
        u *= c
        out += u
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["1x1400", "16x1400", "64x1400", "1x2806751", "8x2806751"],
                        help="QxD: q directions of dimension d")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for case in args.cases:
        q, dim = (int(v) for v in case.split("x"))
        coefficients = np.linspace(-1.0, 1.0, q, dtype=np.float32)
        a, b = np.empty(dim, dtype=np.float32), np.empty(dim, dtype=np.float32)
        assemble_gradient(coefficients, seed=0, step=7, dim=dim, distribution="sphere", out=a)
        if one_at_a_time(coefficients, dim, b).tobytes() != a.tobytes():
            raise SystemExit(f"{case}: the two ways disagree")
        calls = max(1, int(2e6 // (q * dim)))  # about the same work per timing at every size
        contenders = {
            "blocked": partial(assemble_gradient, coefficients, seed=0, step=7, dim=dim, distribution="sphere", out=a),
            "one at a time": partial(one_at_a_time, coefficients, dim, b),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeats):
            for name, call in contenders.items():
                started = time.perf_counter()
                for _ in range(calls):
                    call()
                times[name].append(1e6 * (time.perf_counter() - started) / calls)
        us = {name: (statistics.median(t), min(t)) for name, t in times.items()}
        speedup = us["one at a time"][0] / us["blocked"][0]
        rows.append({"q": q, "d": dim, "speedup": speedup,
                     **{name: {"median_us": median, "min_us": least} for name, (median, least) in us.items()}})
        print(f"q = {q:3d}, d = {dim:>9,}: blocked {us['blocked'][0]:10.1f} us ({us['blocked'][1]:.1f}), "
              f"one at a time {us['one at a time'][0]:10.1f} us ({us['one at a time'][1]:.1f}): {speedup:.2f}x",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": rows}, f, indent=2)


if __name__ == "__main__":
    main()
