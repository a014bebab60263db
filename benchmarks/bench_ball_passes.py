"""The l2-ball projection's passes over d, one at a time, against the floor's passes
(``projection_floor.py``) and, optionally, against another version of the compiled passes, all
in turns in one process so that machine noise hits them alike.

Inputs as ``bench_projection.py``'s l2 ball has them: a, c and h float32 d-vectors, h from
e^-3 to e^3, lam = 0.2.  Per pass, the median CPU ms of this thread over --rounds turns:

  floor-read, floor-write   the floor's two kinds of pass (read a, c, h; read them and write x)
  moments                   the first pass of the weighted ball (no division)
  evaluate                  S, T1, T2 at lam (one division per coordinate)
  evaluate-box              the same, x clipped into a box of d-vectors (c -+ 0.5), as box+l2
  write                     x(lam) into float32, rounded toward the center
  write-in-place            the same, out being a itself (as a step projects x in place)
  moments-in-cache          the moments pass over the first BLOCK coordinates, d / BLOCK times:
                            its arithmetic alone, the vectors in cache (the most that folding the
                            pass into another one that streams a and h could save is moments
                            minus this)
  update                    AdaMM's compiled update (``zoadamm/_update_kernel.py``), h written
  update-then-moments       the update, then the moments pass over its x and h
  update-with-moments       the two folded: each chunk of SPAN coordinates updated, then its
                            moments summed while it is in cache (the same bits as the two apart)
  before-moments, before-evaluate, before-evaluate-box, before-write, before-write-in-place
                            the same passes of the kernel in --before (a copy of an earlier
                            ``zoadamm/_ball_kernel.py``, e.g. from ``git show REV:client/zoadamm/_ball_kernel.py``)

    git show c7af070:client/zoadamm/_ball_kernel.py > kernel_before.py
    python bench_ball_passes.py --before kernel_before.py --json   # from benchmarks/
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
from projection_floor import _read, _write

from zoadamm import _ball_kernel, _ball_write, _update_kernel
from zoadamm._ball_kernel import BLOCK, LANES, MOMENTS, SPAN, _fold, _moments_group, _moments_row, _part, blocks, total

LAM = 0.2
RATES = np.array([0.9, 0.1, 0.999, 0.001, 1e-8, 1e-3], np.float32)  # AdaMM's (b1, 1 - b1, b2, 1 - b2, eps, lr)


@numba.njit(error_model="numpy")
def _update_with_moments(x, m, v, v_hat, g, h, c):  # pragma: no cover - compiled
    """``_update_kernel.update`` chunk by chunk, each chunk's moments summed as it leaves."""
    lanes, sums, terms = np.zeros((MOMENTS, LANES)), np.empty((blocks(x.size), MOMENTS)), np.empty((2, SPAN))
    for b in range(sums.shape[0]):
        start = b * BLOCK
        stop = min(x.size, start + BLOCK)
        grouped = start + (stop - start) // SPAN * SPAN
        for row in range(start, grouped, SPAN):
            end = row + SPAN
            _update_kernel.update(x[row:end], m[row:end], v[row:end], v_hat[row:end], g[row:end], h[row:end],
                                  RATES, True)
            _moments_group(x[row:end], _part(c, row, end), h[row:end], lanes, terms)
        for row in range(grouped, stop, LANES):
            end = min(stop, row + LANES)
            _update_kernel.update(x[row:end], m[row:end], v[row:end], v_hat[row:end], g[row:end], h[row:end],
                                  RATES, True)
            _moments_row(x[row:end], _part(c, row, end), h[row:end], lanes)
        _fold(lanes, sums[b])
    return total(sums)


def _in_cache(run: Callable[[], object], d: int) -> Callable[[], None]:
    def repeated() -> None:
        for _ in range(d // BLOCK):
            run()
    return repeated


def load(path: str):
    """The module in that file, imported by its name (numba's cache reloads it by name)."""
    file = Path(path).resolve()
    sys.path.insert(0, str(file.parent))
    return importlib.import_module(file.stem)


def passes(d: int, before) -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(d).astype(np.float32)
    c = (rng.standard_normal(d) * 0.1).astype(np.float32)
    h = np.exp(rng.uniform(-3, 3, d)).astype(np.float32)
    out = np.empty(d, np.float32)
    bits = out.view(np.int32)
    moved = a.copy()  # written in place, as a step projects x: each run moves it on toward c
    box = (-np.inf, np.inf, False)
    sides = (c - np.float32(0.5), c + np.float32(0.5), True)
    kernel = _ball_kernel
    runs: dict[str, Callable[[], object]] = {
        "floor-read": lambda: _read(a, c, h),
        "floor-write": lambda: _write(a, c, h, out),
        "moments": lambda: kernel.moments(a, c, h),
        "evaluate": lambda: kernel.evaluate(a, c, h, *box, LAM),
        "evaluate-box": lambda: kernel.evaluate(a, c, h, *sides, LAM),
        "write": lambda: _ball_write.write(a, c, h, *box, LAM, out, bits),
        "write-in-place": lambda: _ball_write.write(moved, c, h, *box, LAM, moved, moved.view(np.int32)),
        "moments-in-cache": _in_cache(lambda: kernel.moments(a[:BLOCK], c[:BLOCK], h[:BLOCK]), d),
    }
    x, m, g = (rng.standard_normal(d).astype(np.float32) * np.float32(s) for s in (1, 0.1, 0.1))
    v, v_hat = np.full(d, 0.01, np.float32), np.full(d, 0.01, np.float32)
    updated = np.empty(d, np.float32)
    runs["update"] = lambda: _update_kernel.update(x, m, v, v_hat, g, updated, RATES, True)
    runs["update-then-moments"] = lambda: (runs["update"](), kernel.moments(x, c, updated))
    runs["update-with-moments"] = lambda: _update_with_moments(x, m, v, v_hat, g, updated, c)
    if before is not None:
        runs["before-moments"] = lambda: before.moments(a, c, h)
        runs["before-evaluate"] = lambda: before.evaluate(a, c, h, *box, LAM)
        runs["before-evaluate-box"] = lambda: before.evaluate(a, c, h, *sides, LAM)
    if before is not None and hasattr(before, "write"):  # kernels before 65e83a8 held the write pass too
        runs["before-write"] = lambda: before.write(a, c, h, *box, LAM, out, bits)
        runs["before-write-in-place"] = lambda: before.write(moved, c, h, *box, LAM, moved, moved.view(np.int32))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d", type=int, default=2_806_751)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--before", help="a file with an earlier version of zoadamm/_ball_kernel.py")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = passes(args.d, load(args.before) if args.before else None)
    for run in runs.values():  # compile (or load the cache), and touch every page
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            started = time.thread_time()
            run()
            times[name].append((time.thread_time() - started) * 1e3)
    result = {"d": args.d, "rounds": args.rounds, "lam": LAM,
              "cpu_ms": {name: statistics.median(t) for name, t in times.items()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    floor = result["cpu_ms"]["floor-read"]
    for name, ms in result["cpu_ms"].items():
        print(f"{name:>16} {ms:8.2f} ms  {ms / floor:5.2f} x floor-read")


if __name__ == "__main__":
    main()
