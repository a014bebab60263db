"""Seconds per ZO step with one worker against workers that share the session (``--join``).

The paper's CNN (d = 1,400 at ``--scale 0.1111111``), q = 16 directions, batch 128 (``--batch-size``:
more evaluation per step), through a
service process on a private Redis.  Three ways to run the same steps, taking turns in every
block: ``single`` (one ``zoadamm-worker mnist`` process, its own session, mirror + pipeline),
``join-1`` (one ``--join`` worker leasing all q) and ``join-2`` (two ``--join`` worker processes
leasing q/2 each).  Seconds per step come from the service's own trace (the time each step was
appended), over the steps after the first ``--skip`` (process start-up and warm-up excluded).
Over the same steps, the CPU each process used (sampled from /proc and interpolated at the
trace's times): the workers, the service, Redis, and the whole machine (which includes other
people's work on a shared machine).  CPU-ms per step over the cores there are is a floor under
the ms per step that no protocol can go below.

Then ``kill``: two joined workers, one killed with SIGKILL once the session passes half the
steps; the survivor finishes, and the longest step shows the delay (about the lease time).
Every run's final x is compared with the single worker's (CRC-32): they must be equal.

    python benchmarks/bench_shared_steps.py --steps 300 --blocks 3 --json benchmarks/results/shared_steps.json
    python benchmarks/bench_shared_steps.py --scale 1 --steps 100 --blocks 3 --no-kill \
        --json benchmarks/results/shared_steps_d10602.json     # the evaluation dominates
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import redis
from cpu_sampler import CpuSampler
from harness import redis_server

from zoadamm import Client, wire
from zoadamm_service.launch import ServiceProcess

WORKER = str(Path(sys.executable).with_name("zoadamm-worker"))


def worker_argv(args, url: str, *extra: str) -> list[str]:
    return [WORKER, "mnist", "--scale", str(args.scale), "--epochs", "1", "--batch-size", str(args.batch_size),
            "--train-limit", str(args.steps * args.batch_size), "--service", url, "--quiet", *extra]


def final_crc(client: Client, session_id: str) -> str:
    x = client.sessions.parameters(session_id)
    return f"{x.step}:{wire.checksum(np.asarray(x.x, np.float32))}"


class Bench:
    """The service and Redis processes, and one way of running the steps at a time."""

    def __init__(self, args, url: str, client: Client, service_pid: int, redis_pid: int) -> None:
        self.args, self.url, self.client = args, url, client
        self.fixed = {"service": [service_pid], "redis": [redis_pid]}

    def run(self, workers: int | None, kill_at: int | None = None, threads: int = 1) -> dict:
        """One run of ``--steps`` steps: ``workers`` None is the single worker (on ``threads``
        torch threads), otherwise that many ``--join`` workers.  Answers seconds per step, CPU
        per step and the final x's CRC."""
        args, load = self.args, os.getloadavg()[0]
        if workers is None:
            before = {s.id for s in self.client.sessions.list(limit=1000)}
            procs = [subprocess.Popen(worker_argv(args, self.url, "--directions", str(args.q),
                                                  "--threads", str(threads)),
                                      stdout=subprocess.DEVNULL)]
        else:
            session_id = self.client.sessions.create(parameter_count(args.scale), directions=args.q, seed=0).id
            lease = str(-(-args.q // workers))
            procs = [subprocess.Popen(worker_argv(args, self.url, "--join", session_id, "--lease", lease),
                                      stdout=subprocess.DEVNULL) for _ in range(workers)]
        with CpuSampler({"workers": [p.pid for p in procs], **self.fixed}) as cpu:
            if kill_at is not None:
                while self.client.sessions.get(session_id).step < kill_at:
                    time.sleep(0.01)
                procs[0].send_signal(signal.SIGKILL)
            codes = [p.wait() for p in procs]
        if codes[int(kill_at is not None):] != [0] * (len(procs) - int(kill_at is not None)):
            raise SystemExit(f"a worker failed: exit codes {codes}")
        if workers is None:
            (session_id,) = {s.id for s in self.client.sessions.list(limit=1000)} - before
        times = self.client.sessions.trace(session_id).time[args.skip:]
        steps = len(times) - 1
        used = cpu.between(float(times[0]), float(times[-1]))
        gaps = np.diff(times)
        return {"s_per_step": float(np.mean(gaps)), "median_step_s": float(np.median(gaps)),
                "longest_step_s": float(np.max(gaps)), "crc": final_crc(self.client, session_id),
                "cpu_ms_per_step": {k: 1e3 * v / steps for k, v in used.items()},
                "load_before": load, "load_after": os.getloadavg()[0]}


def parameter_count(scale: float) -> int:
    from zoadamm_worker.model import parameter_count

    return parameter_count(scale)


def redis_pid(url: str) -> int:
    return int(redis.Redis.from_url(url).info("server")["process_id"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--q", type=int, default=16)
    parser.add_argument("--scale", type=float, default=0.1111111)
    parser.add_argument("--batch-size", type=int, default=128, help="images per step (a larger one: more evaluation)")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--skip", type=int, default=20, help="steps of warm-up left out of the timing")
    parser.add_argument("--lease-seconds", type=float, default=2.0, help="ZOADAMM_LEASE_SECONDS of the service")
    parser.add_argument("--service-workers", type=int, default=1,
                        help="service processes on one port: a waiting tell then often learns of the close by polling")
    parser.add_argument("--single-threads", type=int, default=1,
                        help="also run the single worker on this many torch threads (a mode of its own)")
    parser.add_argument("--no-kill", action="store_true", help="leave out the kill -9 run")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    modes: dict[str, int | None] = {"single": None, "join-1": 1, "join-2": 2}
    if args.single_threads != 1:
        modes[f"single-{args.single_threads}t"] = None
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    kill = None
    env = {"ZOADAMM_LEASE_SECONDS": str(args.lease_seconds)}
    with (redis_server() as redis_url,
          ServiceProcess(redis_url, env=env, workers=args.service_workers) as service,
          Client(service.url) as client):
        assert service.proc is not None
        bench = Bench(args, service.url, client, service.proc.pid, redis_pid(redis_url))
        for block in range(1, args.blocks + 1):
            for mode, workers in modes.items():
                threads = args.single_threads if mode.endswith("t") else 1
                runs[mode].append(bench.run(workers, threads=threads))
                r = runs[mode][-1]
                print(f"block {block}/{args.blocks} {mode:>7}: {1e3 * r['s_per_step']:6.1f} ms/step, "
                      f"CPU {r['cpu_ms_per_step']['workers']:5.1f} workers + {r['cpu_ms_per_step']['service']:4.1f} "
                      f"service + {r['cpu_ms_per_step']['redis']:4.1f} redis ms/step, machine "
                      f"{r['cpu_ms_per_step']['machine']:5.1f}, load {r['load_before']:.2f}", flush=True)
        if not args.no_kill:
            kill = bench.run(2, kill_at=args.steps // 2)
            kill["delay_s"] = kill["longest_step_s"] - kill["median_step_s"]
    print(summary(args, runs, kill, json_path=args.json))


ABOUT = {
    "modes": "single: one mnist worker on its own session (mirror + pipeline); join-1: one --join worker leasing "
             "all q; join-2: two --join worker processes leasing q/2 each; single-Nt (with --single-threads N): the "
             "single worker on N torch threads (the others use one)",
    "runs": "per mode, one entry per block: s_per_step (mean gap between the service's trace times after skip), "
            "median and longest step, the final x's CRC, CPU ms per step of each process group over the same steps "
            "(machine: every process on the machine, tick-sampled; sampler: the benchmark's own process), "
            "the 1-minute load average before and after",
    "modes_summary": "medians over the blocks; vs_single: ratio to the single worker's run in the same block; "
                     "floor_ms_per_step: CPU ms per step of ours (workers + service + redis) over the cores",
}


def summary(args, runs: dict[str, list[dict]], kill: dict | None, json_path: str | None) -> str:
    single_crcs = {r["crc"] for r in runs["single"]}
    cores = len(os.sched_getaffinity(0))
    ours = ("workers", "service", "redis")
    rows: dict = {"d": parameter_count(args.scale), "q": args.q, "steps": args.steps, "skip": args.skip,
                  "scale": args.scale, "batch_size": args.batch_size, "lease_seconds": args.lease_seconds,
                  "service_workers": args.service_workers, "cores": cores,
                  "blocks": args.blocks, "about": ABOUT, "runs": runs, "modes": {}}
    lines = [f"seconds per step, d = {rows['d']:,}, q = {args.q}, median of {args.blocks} runs of {args.steps} steps"]
    for mode, mine in runs.items():
        ratios = [r["s_per_step"] / s["s_per_step"] for r, s in zip(mine, runs["single"], strict=True)]
        cpu = {k: statistics.median(r["cpu_ms_per_step"][k] for r in mine) for k in mine[0]["cpu_ms_per_step"]}
        cpu["ours"] = statistics.median(sum(r["cpu_ms_per_step"][k] for k in ours) for r in mine)
        row = {"ms_per_step": 1e3 * statistics.median(r["s_per_step"] for r in mine),
               "vs_single_per_block": ratios, "vs_single": statistics.median(ratios),
               "cpu_ms_per_step": cpu, "floor_ms_per_step": cpu["ours"] / cores,
               "load": [r["load_before"] for r in mine]}
        rows["modes"][mode] = row
        lines.append(f"{mode:>7}: {row['ms_per_step']:6.1f} ms ({row['vs_single']:.2f}x single, per block "
                     f"{', '.join(f'{v:.2f}' for v in ratios)}); CPU of ours {cpu['ours']:.1f} ms/step "
                     f"(floor on {cores} cores {row['floor_ms_per_step']:.1f} ms), machine {cpu['machine']:.1f}")
    # another thread count may sum in another order, so its bits are reported, not required
    one_thread = [r for mode, m in runs.items() if not mode.endswith("t") for r in m]
    rows["final_x_identical"] = all(r["crc"] in single_crcs for r in one_thread) and len(single_crcs) == 1
    lines.append(f"final x identical in every one-thread run: {rows['final_x_identical']}")
    for mode in (m for m in runs if m.endswith("t")):
        rows[f"{mode}_final_x_equals_single"] = all(r["crc"] in single_crcs for r in runs[mode])
        lines.append(f"{mode} final x equals the one-thread single worker's: {rows[f'{mode}_final_x_equals_single']}")
    if kill is not None:
        kill["final_x_equals_single"] = kill["crc"] in single_crcs
        rows["kill"] = kill
        lines.append(f"kill -9 of one of two workers at step {args.steps // 2}: longest step "
                     f"{kill['longest_step_s']:.2f} s (median {1e3 * kill['median_step_s']:.1f} ms), final x equals "
                     f"the single worker's: {kill['final_x_equals_single']}")
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=2))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
