"""The per-step direction work of this checkout's ``zoadamm`` against another checkout's, in one
process, call for call: what a change to the direction code did, measured without the noise of
two processes on a busy machine.

``--baseline DIR`` is another checkout of this repository (``git worktree add DIR COMMIT``); its
``client/zoadamm`` is loaded as a second package.  For each case the two take turns, ``--calls``
calls at a time, ``--rounds`` times; a cell is the median CPU time per call (``process_time``, so
time spent waiting for a core does not count) and the median of the per-round ratios.  On a
machine too busy for CPU times to agree from run to run, ``--instructions`` counts instructions
instead (valgrind's cachegrind, the same on every run): each workload runs in a process of its
own, ``--calls`` calls after a warm-up, less the same process with no calls.

- ``directions``: ``zoadamm.directions`` (the service's ask with vectors)
- ``assemble``: ``assemble_gradient`` from the coefficients (every replay of a ZO step)
- ``mirrored step``: a RemoteOptimizer's directions of a step, then ``Optimizer.apply`` with them
  (through ``StepDirections`` where the package has it, else ``directions``)
- ``joined worker`` (with ``--joined``): one step of a worker that joined a session (``SharedRun``,
  lease = q), against a service process started here, on an objective that costs next to
  nothing: the worker's own CPU (directions, requests, following x), its threads included

    git worktree add /tmp/baseline <commit>
    python benchmarks/ab_directions.py --baseline /tmp/baseline --joined --json benchmarks/results/ab_directions.json
    python benchmarks/ab_directions.py --baseline /tmp/baseline --instructions --cases 1x1400 16x1400 64x1400
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import zoadamm
from zoadamm_service.launch import ServiceProcess

CASES = ["1x1400", "16x1400", "64x1400", "1x2806751", "8x2806751"]


def load_baseline(folder: str):
    """The baseline checkout's ``zoadamm`` package, imported as ``zoadamm_baseline``."""
    init = Path(folder, "client", "zoadamm", "__init__.py")
    spec = importlib.util.spec_from_file_location("zoadamm_baseline", init,
                                                  submodule_search_locations=[str(init.parent)])
    if spec is None or spec.loader is None:
        raise SystemExit(f"no zoadamm package under {folder}/client")
    module = importlib.util.module_from_spec(spec)
    sys.modules["zoadamm_baseline"] = module
    spec.loader.exec_module(module)
    return module


def workloads(pkg, q: int, dim: int, service: str | None = None) -> dict:
    """Name -> call(): each call does one step's work on a new step (``joined worker`` too when
    ``service`` is the URL of a service)."""
    coefficients = np.linspace(-1.0, 1.0, q).astype(np.float32)
    out = np.empty(dim, dtype=np.float32)
    config = pkg.SessionConfig(dim=dim, directions=q, seed=3)
    optimizer = pkg.Optimizer.start(config, np.zeros(dim, np.float32))
    cache = pkg.StepDirections(3, q, dim) if hasattr(pkg, "StepDirections") else None
    steps = iter(range(1, 1 << 62))

    def mirrored_step():
        step = optimizer.step
        made = cache.all(step) if cache is not None else pkg.directions(3, step, q, dim)
        optimizer.apply(pkg.StepRecord(step, 1e-3, coefficients=coefficients), out, made)

    calls = {
        "directions": lambda: pkg.directions(3, next(steps), q, dim),
        "assemble": lambda: pkg.assemble_gradient(coefficients, seed=3, step=next(steps), dim=dim,
                                                  distribution="sphere", out=out),
        "mirrored step": mirrored_step,
    }
    if service is not None:
        calls["joined worker"] = joined_worker(pkg, service, q, dim)
    return calls


def joined_worker(pkg, service: str, q: int, dim: int):
    """call(): one step of a SharedRun of ``pkg`` on a session of its own at ``service``."""
    client = pkg.Client(service)
    session = client.sessions.create(dim, directions=q, seed=3)
    run = importlib.import_module(f"{pkg.__name__}.sdk").SharedRun(client, session.id, np.zeros(dim, np.float32),
                                                                   lease=q)
    target = np.linspace(-1.0, 1.0, dim, dtype=np.float32)

    def f(x: np.ndarray) -> float:
        return float(np.dot(x - target, x - target))

    def step():
        work = run.next()
        u, mu = run.directions(work.indices), np.float32(work.mu)
        run.tell(work, f(run.x), [f(run.x + mu * u_i) for u_i in u])

    return step


def compare(baseline, q: int, dim: int, rounds: int, calls: int, service: str | None) -> dict:
    sides = {"baseline": workloads(baseline, q, dim, service), "this": workloads(zoadamm, q, dim, service)}
    result = {}
    for name in sides["this"]:
        for calls_of_side in sides.values():  # warm up: the tables, the first allocations
            calls_of_side[name]()
        times: dict[str, list[float]] = {"baseline": [], "this": []}
        for r in range(rounds):
            for side in ("baseline", "this") if r % 2 == 0 else ("this", "baseline"):
                call = sides[side][name]
                started = time.process_time()
                for _ in range(calls):
                    call()
                times[side].append(1e6 * (time.process_time() - started) / calls)
        ratios = [b / a for a, b in zip(times["baseline"], times["this"], strict=True)]
        result[name] = {"baseline_us": statistics.median(times["baseline"]),
                        "this_us": statistics.median(times["this"]), "ratio": statistics.median(ratios)}
    return result


def instructions(args, side: str, workload: str, q: int, dim: int, calls: int) -> int:
    """Instructions of ``calls`` calls of one workload (valgrind), less those of none."""
    def count(n: int) -> int:
        command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                   sys.executable, __file__, "--baseline", args.baseline, "--one", side, workload, f"{q}x{dim}", str(n)]
        # one BLAS thread and fixed hashes: nothing else in the process changes the count
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        return int(re.search(r"I\s+refs:\s+([\d,]+)", done.stderr).group(1).replace(",", ""))  # type: ignore[union-attr]

    return (count(calls) - count(0)) // calls


def run_one(baseline, side: str, workload: str, case: str, calls: int) -> None:
    """The ``--one`` mode: a warm-up call, then ``calls`` calls, untimed."""
    q, dim = (int(v) for v in case.split("x"))
    call = workloads(baseline if side == "baseline" else zoadamm, q, dim)[workload]
    call()
    for _ in range(calls):
        call()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="another checkout of this repository")
    parser.add_argument("--cases", nargs="+", default=CASES, help="QxD: q directions of dimension d")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--instructions", action="store_true", help="count instructions (valgrind) instead")
    parser.add_argument("--joined", action="store_true", help="also a joined worker's step (starts a service)")
    parser.add_argument("--calls", type=int, default=300, help="calls counted with --instructions")
    parser.add_argument("--one", nargs=4, metavar=("SIDE", "WORKLOAD", "QxD", "CALLS"), help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    baseline = load_baseline(args.baseline)
    if args.one:
        side, workload, case, calls = args.one
        run_one(baseline, side, workload, case, int(calls))
        return
    with contextlib.ExitStack() as stack:
        service = stack.enter_context(ServiceProcess(None)).url if args.joined and not args.instructions else None
        rows = measure(args, baseline, service)
    if args.json:
        Path(args.json).write_text(json.dumps({"baseline": args.baseline, "rows": rows}, indent=2))


def measure(args, baseline, service: str | None) -> list[dict]:
    rows = []
    for case in args.cases:
        q, dim = (int(v) for v in case.split("x"))
        if args.instructions:
            for name in workloads(zoadamm, q, dim):
                counts = {side: instructions(args, side, name, q, dim, args.calls) for side in ("baseline", "this")}
                rows.append({"case": name, "q": q, "d": dim, "calls": args.calls,
                             **{f"{side}_instructions": n for side, n in counts.items()},
                             "ratio": counts["this"] / counts["baseline"]})
                print(f"{name:>14}, q = {q:3d}, d = {dim:>9,}: baseline {counts['baseline']:>11,} instructions, "
                      f"this {counts['this']:>11,}, this / baseline {rows[-1]['ratio']:.3f}", flush=True)
            continue
        calls = max(1, int(3e5 // (q * dim)))  # about the same work per timing at every size
        rounds = args.rounds if q * dim < 1e6 else max(5, args.rounds // 5)
        for name, cell in compare(baseline, q, dim, rounds, calls, service).items():
            rows.append({"case": name, "q": q, "d": dim, "rounds": rounds, "calls": calls, **cell})
            print(f"{name:>14}, q = {q:3d}, d = {dim:>9,}: baseline {cell['baseline_us']:10.1f} us, this "
                  f"{cell['this_us']:10.1f} us, this / baseline {cell['ratio']:.3f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
