"""AdaMM's update at d = 1,400 and 2,806,751: numpy's thirteen calls against the compiled pass
(``zoadamm/_update_kernel.py``, the same bits), alone and inside the lean ZO-AdaMM step on the
paper's CNN (``bench_projection.py``'s step: q = 1, batch 128, lr 1e-3), with no set and with
the l2 ball (whose projection needs the metric h written out; the update alone is without).

The two paths are the same code with ``zoadamm.adamm.COMPILED_FROM`` set to 1 or to never, taken
in turns in this one process, so machine noise hits them alike.  CPU time of this thread (torch
runs on one thread, in this one); medians over blocks.  Also the one-time cost of the compiled
path in a new process (importing numba and loading the cached machine code, then the first
call), which is why states below ``COMPILED_FROM`` keep numpy's path.

    python benchmarks/bench_update.py --scales 0.1111111 119.888885 --steps 10 --blocks 7 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
from bench_projection import Run, feasible_sets

from zoadamm import adamm
from zoadamm_worker.mnist import load_mnist
from zoadamm_worker.model import initial_parameters
from zoadamm_worker.objective import MnistObjective
from zoadamm_worker.threads import use_torch_threads

PATHS = {"numpy": 1 << 62, "compiled": 1}  # COMPILED_FROM for each


def _update_alone(run: Run) -> float:
    """CPU ms of one update (no set) on a copy of the run's state and of its last work vector."""
    state, gradient = run.optimizer.state.copy(), np.nan_to_num(run.work)
    cpu = time.thread_time()
    adamm.adamm_update(state, gradient, 1e-3, run.optimizer.config.adamm)
    return (time.thread_time() - cpu) * 1e3


FIRST_CALL = """
import time
import numpy as np
started = time.perf_counter()
from zoadamm import adamm
state, config = adamm.AdaMMState.start(np.zeros(adamm.COMPILED_FROM, np.float32)), adamm.AdaMMConfig()
adamm.adamm_update(state, np.ones(state.dim, np.float32), 1e-3, config)
print(time.perf_counter() - started)
"""


def first_call_s(runs: int = 5) -> float:
    """Median wall seconds, in a new interpreter, to import the core and take one compiled
    update, minus the same with numpy's path (the core's own import)."""
    def timed(code: str) -> float:
        return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout)
    numpy_path = FIRST_CALL.replace("adamm.adamm_update(", "adamm.COMPILED_FROM = 1 << 62\nadamm.adamm_update(")
    return statistics.median(timed(FIRST_CALL) - timed(numpy_path) for _ in range(runs))


def measure(scale: float, steps: int, blocks: int, data) -> dict:
    objective = MnistObjective(scale, data, batch_size=128)
    x0 = initial_parameters(scale, 0)
    sets = feasible_sets(x0)
    runs = {(path, name): Run(objective, x0, sets[name]) for path in PATHS for name in ("none", "l2")}
    adamm.compiled().update  # noqa: B018 - numba's import and the cached code, before any timing
    times: dict[str, list[float]] = {}
    for block in range(blocks + 1):  # the first block warms up (and compiles) and is dropped
        for (path, name), run in runs.items():
            adamm.COMPILED_FROM = PATHS[path]
            cpu = time.thread_time()
            for _ in range(steps):
                run.step()
            step_ms = (time.thread_time() - cpu) / steps * 1e3
            if block:
                times.setdefault(f"{path}/{name}/step", []).append(step_ms)
            if block and name == "none":
                times.setdefault(f"{path}/update", []).append(statistics.median(_update_alone(run) for _ in range(3)))
    adamm.COMPILED_FROM = PATHS["compiled"]
    medians = {key: statistics.median(values) for key, values in times.items()}
    return {"d": objective.dim, "steps_per_block": steps, "blocks": blocks, "cpu_ms": medians, "blocks_cpu_ms": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+", default=[1 / 9, 119.888885])
    parser.add_argument("--steps", type=int, default=10, help="steps per block")
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    use_torch_threads(1)
    data = load_mnist()
    default_from = adamm.COMPILED_FROM
    results = [measure(scale, args.steps, args.blocks, data) for scale in args.scales]
    if args.json:
        print(json.dumps({"machine": platform.processor() or platform.machine(), "compiled_from": default_from,
                          "first_call_s": first_call_s(), "results": results}, indent=2))
        return
    print(f"a new process's first compiled update: {first_call_s():.2f} s more than numpy's")
    for r in results:
        print(f"d = {r['d']:,}: {r['blocks']} blocks of {r['steps_per_block']} steps, CPU ms (median)")
        for part in ("update", "none/step", "l2/step"):
            before, after = (r["cpu_ms"][f"{path}/{part}"] for path in PATHS)
            print(f"  {part:>9}: numpy {before:8.3f}  compiled {after:8.3f}  ({after / before:.2f}x)")


if __name__ == "__main__":
    main()
