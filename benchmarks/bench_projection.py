"""What a feasible set adds to a ZO-AdaMM step on the paper's CNN, at d = 1,400 and 2,806,751.

The step is the lean in-process one of ``bench_service_step.py``: the step's directions, f(x)
and f(x + mu u) on one minibatch of 128, and the update (``Optimizer.apply``), q = 1,
lr = 1e-3.  The sets (all but box-scalar active from the first steps on):

  box        lower = x0 - 2 lr, upper = x0 + 2 lr (d-vectors)
  box-scalar [-1, 1]: one number each side (numpy's faster path; inactive, and clipping
             costs the same either way)
  l2         the l2 ball around x0 of radius lr sqrt(d) / 2, projected in AdaMM's metric
  box+l2     both

Two figures per set, both taken in turns with the unconstrained step so that machine noise
hits them alike, each as wall time and as the process's CPU time (every thread's: torch runs on
one, this one, and from d = 262,144 on the projection's passes share the cores,
``projection.THREADS``): on a loaded machine the CPU time leaves out the waits for a core.
  step      median ms per whole step (blocks of --steps steps), and its ratio to no set
  project   median ms of the projection alone, on the state and metric a step left, and
            its share of the unconstrained step's median; for the l2 ball also the passes it
            made over the d coordinates (the moments, evaluations of ||x(lam) - c||, the write)
  l2-floor  the least any exact projection onto that ball must stream (``projection_floor.py``:
            three passes over a, c and h, at the fastest this machine streams them, on as many
            threads as the projection), measured in the same turns, and its share of the step
  l2-1-thread, l2-floor-1-thread  the l2 ball's projection and its floor on this thread alone

    python benchmarks/bench_projection.py --scales 0.1111111 119.888885 --steps 20 --blocks 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from projection_floor import three_passes

import zoadamm
from zoadamm import Ball, Box, FeasibleSet, Optimizer, SessionConfig, projection
from zoadamm_worker.mnist import load_mnist
from zoadamm_worker.model import initial_parameters
from zoadamm_worker.objective import MnistObjective
from zoadamm_worker.threads import use_torch_threads

LR = 1e-3
SETS = ("none", "box", "box-scalar", "l2", "box+l2")
ONE_THREAD = ("l2-1-thread", "l2-floor-1-thread")


def feasible_sets(x0: np.ndarray) -> dict[str, FeasibleSet | None]:
    box = Box(x0 - 2 * LR, x0 + 2 * LR)
    ball = Ball("2", x0, LR * np.sqrt(x0.size) / 2)
    return {"none": None, "box": FeasibleSet(box=box), "box-scalar": FeasibleSet(box=Box(-1.0, 1.0)),
            "l2": FeasibleSet(ball=ball), "box+l2": FeasibleSet(box=box, ball=ball)}


class Run:
    """One lean ZO-AdaMM run under one set; ``step`` takes a step, ``project`` times the
    projection alone on a copy of the state the last step left (with that step's metric)."""

    def __init__(self, objective: MnistObjective, x0: np.ndarray, constraint: FeasibleSet | None) -> None:
        config = SessionConfig(dim=x0.size, lr=LR, seed=7, schedule=None, constraint=constraint)
        self.objective, self.constraint = objective, constraint
        self.optimizer = Optimizer.start(config, x0)
        self.work = np.empty(x0.size, dtype=np.float32)
        self.batches = iter(objective.batches(1))
        self.trial = np.empty_like(x0)

    def step(self) -> None:
        opt = self.optimizer
        dirs = zoadamm.directions(7, opt.step, 1, opt.config.dim)
        f_x, f_plus, _ = self.objective.zo_losses(opt.state.x, next(self.batches), dirs, opt.mu)
        opt.apply(opt.zo_record(f_x, f_plus), self.work, directions=dirs)

    def project(self, floor: bool = False, threads: int | None = None) -> tuple[float, float]:
        """(wall, CPU) ms of one projection of x moved by another step like the last one, in
        that step's metric; with ``floor``, of the floor's passes over the same vectors; with
        ``threads``, its passes on at most that many threads."""
        assert self.constraint is not None  # the unconstrained run is never projected
        state, config = self.optimizer.state, self.optimizer.config.adamm
        metric = np.sqrt(state.v_hat) + np.float32(config.eps)  # the metric of AdaMM's last step
        np.subtract(state.x, (state.m / metric) * np.float32(LR), out=self.trial)
        default, projection.THREADS = projection.THREADS, threads or projection.THREADS
        started, cpu = time.perf_counter(), time.process_time()
        try:
            if floor:
                assert self.constraint.sphere is not None  # the floor is the l2 ball's
                # on as many threads as the projection's passes use at this d
                parallel = self.trial.size >= projection.PARALLEL_FROM
                three_passes(self.trial, self.constraint.sphere[0], metric, self.trial,
                             projection.THREADS if parallel else 1)
            else:
                self.constraint.project(self.trial, weights=metric, out=self.trial)
        finally:
            projection.THREADS = default
        return (time.perf_counter() - started) * 1e3, (time.process_time() - cpu) * 1e3

    def passes(self) -> int:
        """Passes over the d coordinates that one projection like ``project``'s makes."""
        ball, count = projection._Ball, [1]  # the write
        passes = {name: getattr(ball, name) for name in ("evaluate", "moments")}

        def counted(name):
            def call(*args):
                count[0] += 1
                return passes[name](*args)
            return call

        for name in passes:
            setattr(ball, name, counted(name))
        try:
            self.project()
        finally:
            for name, method in passes.items():
                setattr(ball, name, method)
        return count[0]


def measure(scale: float, steps: int, blocks: int, data) -> dict:
    objective = MnistObjective(scale, data, batch_size=128)
    x0 = initial_parameters(scale, 0)
    runs = {name: Run(objective, x0, s) for name, s in feasible_sets(x0).items()}
    for run in runs.values():  # warm up, and make every set active
        for _ in range(3):
            run.step()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in SETS}
    projections: dict[str, list[tuple[float, float]]] = {
        name: [] for name in (*SETS[1:], *ONE_THREAD, "l2-floor")}
    for _ in range(blocks):
        for name, run in runs.items():
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                run.step()
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            times[name].append((wall / steps * 1e3, cpu / steps * 1e3))
            if name != "none":
                projections[name] += [run.project() for _ in range(3)]
            if name == "l2":
                projections["l2-1-thread"] += [run.project(threads=1) for _ in range(3)]
                projections["l2-floor"] += [run.project(floor=True) for _ in range(3)]
                projections["l2-floor-1-thread"] += [run.project(floor=True, threads=1) for _ in range(3)]
    result: dict = {"d": objective.dim, "steps_per_block": steps, "blocks": blocks,
                    "l2_passes": runs["l2"].passes(), "box+l2_passes": runs["box+l2"].passes()}
    for clock, index in (("wall", 0), ("cpu", 1)):
        lean = statistics.median(t[index] for t in times["none"])
        result.setdefault("none", {})[f"step_{clock}_ms"] = lean
        for name in SETS[1:]:
            step = statistics.median(t[index] for t in times[name])
            result.setdefault(name, {}).update({f"step_{clock}_ms": step, f"step_{clock}_ratio": step / lean})
        for name in projections:
            project = statistics.median(t[index] for t in projections[name])
            result.setdefault(name, {}).update(
                {f"project_{clock}_ms": project, f"project_{clock}_share": project / lean})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+", default=[1 / 9, 119.888885])
    parser.add_argument("--steps", type=int, default=20, help="steps per block")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    use_torch_threads(1)
    data = load_mnist()
    results = [measure(scale, args.steps, args.blocks, data) for scale in args.scales]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"d = {r['d']:,}: {r['blocks']} blocks of {r['steps_per_block']} steps; no set "
              f"{r['none']['step_wall_ms']:.2f} ms/step wall, {r['none']['step_cpu_ms']:.2f} CPU")
        print(f"{'set':>17} {'clock':>5} {'ms/step':>8} {'x none':>7} {'project ms':>11} {'share':>7}")
        for name in (*SETS[1:], *ONE_THREAD, "l2-floor"):
            for clock in ("wall", "cpu"):
                m = {k.replace(f"_{clock}", ""): v for k, v in r[name].items() if f"_{clock}_" in k}
                step = f"{m['step_ms']:>8.2f} {m['step_ratio']:>7.3f}" if "step_ms" in m else f"{'':>16}"
                print(f"{name:>17} {clock:>5} {step} {m['project_ms']:>11.3f} {m['project_share']:>7.1%}")
        print(f"passes over d per projection: l2 {r['l2_passes']}, box+l2 {r['box+l2_passes']}")


if __name__ == "__main__":
    main()
