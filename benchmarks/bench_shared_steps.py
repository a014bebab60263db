"""Seconds per ZO step with one worker against workers that share the session (``--join``).

The paper's CNN (d = 1,400 at ``--scale 0.1111111``), q = 16 directions, batch 128, through a
service process on a private Redis.  Three ways to run the same steps, taking turns in every
block: ``single`` (one ``zoadamm-worker mnist`` process, its own session, mirror + pipeline),
``join-1`` (one ``--join`` worker leasing all q) and ``join-2`` (two ``--join`` worker processes
leasing q/2 each).  Seconds per step come from the service's own trace (the time each step was
appended), over the steps after the first ``--skip`` (process start-up and warm-up excluded).
Then ``kill``: two joined workers, one killed with SIGKILL once the session passes half the
steps; the survivor finishes, and the longest step shows the delay (about the lease time).
Every run's final x is compared with the single worker's (CRC-32): they must be equal.

    python benchmarks/bench_shared_steps.py --steps 300 --blocks 3 --json benchmarks/results/shared_steps.json
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from harness import redis_server, service

from zoadamm import Client, wire

WORKER = str(Path(sys.executable).with_name("zoadamm-worker"))


def worker_argv(args, url: str, *extra: str) -> list[str]:
    return [WORKER, "mnist", "--scale", str(args.scale), "--epochs", "1", "--train-limit", str(args.steps * 128),
            "--service", url, "--quiet", *extra]


def step_times(client: Client, session_id: str, skip: int) -> np.ndarray:
    """Seconds between consecutive steps after the first ``skip``, from the service's trace."""
    times = client.sessions.trace(session_id).time
    return np.diff(times[skip:])


def final_crc(client: Client, session_id: str) -> str:
    x = client.sessions.parameters(session_id)
    return f"{x.step}:{wire.checksum(np.asarray(x.x, np.float32))}"


def run_single(args, url: str, client: Client) -> str:
    before = {s.id for s in client.sessions.list(limit=1000)}
    subprocess.run(worker_argv(args, url, "--directions", str(args.q)), check=True, stdout=subprocess.DEVNULL)
    (session_id,) = {s.id for s in client.sessions.list(limit=1000)} - before
    return session_id


def run_joined(args, url: str, client: Client, workers: int, kill_at: int | None = None) -> str:
    session_id = client.sessions.create(client_dim(args), directions=args.q, seed=0).id
    lease = str(-(-args.q // workers))
    procs = [subprocess.Popen(worker_argv(args, url, "--join", session_id, "--lease", lease),
                              stdout=subprocess.DEVNULL) for _ in range(workers)]
    if kill_at is not None:
        while client.sessions.get(session_id).step < kill_at:
            time.sleep(0.01)
        procs[0].send_signal(signal.SIGKILL)
    codes = [p.wait() for p in procs]
    if codes[1:] != [0] * (workers - 1) or (kill_at is None and codes[0] != 0):
        raise SystemExit(f"a joined worker failed: exit codes {codes}")
    return session_id


def client_dim(args) -> int:
    from zoadamm_worker.model import parameter_count

    return parameter_count(args.scale)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--q", type=int, default=16)
    parser.add_argument("--scale", type=float, default=0.1111111)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--skip", type=int, default=20, help="steps of warm-up left out of the timing")
    parser.add_argument("--lease-seconds", type=float, default=2.0, help="ZOADAMM_LEASE_SECONDS of the service")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    modes = {"single": lambda url, client: run_single(args, url, client),
             "join-1": lambda url, client: run_joined(args, url, client, 1),
             "join-2": lambda url, client: run_joined(args, url, client, 2)}
    per_step: dict[str, list[float]] = {m: [] for m in modes}
    crcs: dict[str, set[str]] = {m: set() for m in modes}
    lease_env = {"ZOADAMM_LEASE_SECONDS": str(args.lease_seconds)}
    with redis_server() as redis_url, service(redis_url, extra_env=lease_env) as url, Client(url) as client:
        for block in range(1, args.blocks + 1):
            for mode, run in modes.items():
                session_id = run(url, client)
                gaps = step_times(client, session_id, args.skip)
                per_step[mode].append(float(np.mean(gaps)))
                crcs[mode].add(final_crc(client, session_id))
                print(f"block {block}/{args.blocks} {mode:>7}: {1e3 * per_step[mode][-1]:6.1f} ms/step", flush=True)
        killed = run_joined(args, url, client, 2, kill_at=args.steps // 2)
        gaps = step_times(client, killed, args.skip)
        kill = {"median_step_s": float(np.median(gaps)), "longest_step_s": float(np.max(gaps)),
                "delay_s": float(np.max(gaps) - np.median(gaps)),
                "final_x_equals_single": final_crc(client, killed) in crcs["single"]}
    medians = {m: statistics.median(v) for m, v in per_step.items()}
    rows = {"d": client_dim(args), "q": args.q, "steps": args.steps, "skip": args.skip,
            "lease_seconds": args.lease_seconds,
            "seconds_per_step": per_step, "median_s": medians,
            "vs_single": {m: medians[m] / medians["single"] for m in modes},
            "final_x_identical": len(set.union(*crcs.values())) == 1, "kill": kill}
    print(f"\nseconds per step, d = {rows['d']:,}, q = {args.q}, median of {args.blocks} runs of {args.steps} steps")
    for m in modes:
        print(f"{m:>7}: {1e3 * medians[m]:6.1f} ms  ({rows['vs_single'][m]:.2f}x single)")
    print(f"final x identical in every run: {rows['final_x_identical']}")
    print(f"kill -9 of one of two workers at step {args.steps // 2}: longest step {kill['longest_step_s']:.2f} s "
          f"(median {1e3 * kill['median_step_s']:.1f} ms), final x equals the single worker's: "
          f"{kill['final_x_equals_single']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
