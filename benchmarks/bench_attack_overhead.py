"""What the service costs a black-box attack: the same ZO attack run through the service's
sessions and in process (the core package's optimizer, no HTTP), wall time of whole runs.

The modes attack the same test images with the same seed, budget and concurrency through one
victim process, and run the same loop: a step is one victim request of 1 + q images, then the
update:

  service         a tell to the service (Redis behind it), which answers the new x
  service-mirror  the same tell, sent while the next step is measured at the x of the
                  client's own mirror of the state; the service answers a checksum
  in-process      ``Optimizer.apply``: the core package alone, no HTTP

They run in turns, ``--rounds`` times each (each mode first in one round), so that machine
noise hits them alike; the figure is the ratio of the medians of wall time.  CPU seconds of
this process (the attack's threads) and of the service process are kept beside.  Each round's
records must agree between the modes (the runs are the same attack to the bit): the benchmark
fails otherwise.

    python benchmarks/bench_attack_overhead.py --images 20 --budget 1000 --rounds 3 \\
        --out benchmarks/results/attack_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from harness import process_tree_cpu, redis_server

from zoadamm_service.launch import ServiceProcess
from zoadamm_worker.attack.launch import victim_process
from zoadamm_worker.attack.runner import AttackSettings, run_attack
from zoadamm_worker.threads import use_torch_threads

MODEL = Path(__file__).resolve().parents[1] / "results" / "attack" / "victim.pt"
OUTCOME = ("index", "success", "queries", "spent", "linf", "l2", "margin", "predicted")


MODES = ("service", "service-mirror", "in-process")


def one_run(settings: AttackSettings, records: Path, service_pid: int) -> tuple[dict, list[dict]]:
    """(wall seconds, CPU seconds of this process and of the service), the per-image outcomes."""
    records.unlink(missing_ok=True)
    cpu, service_cpu = time.process_time(), process_tree_cpu(service_pid)
    started = time.perf_counter()
    run_attack(settings, records)
    took = {"wall": time.perf_counter() - started, "attacker_cpu": time.process_time() - cpu,
            "service_cpu": process_tree_cpu(service_pid) - service_cpu}
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    return took, sorted(({k: row[k] for k in OUTCOME} for row in rows), key=lambda row: row["index"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="zo-adamm")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--norm", default="inf")
    parser.add_argument("--eps", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the results here as JSON")
    args = parser.parse_args()
    use_torch_threads(1)
    scratch = Path(tempfile.mkdtemp(prefix="bench-attack-overhead-"))
    seconds: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    with redis_server() as redis_url, ServiceProcess(redis_url) as service, victim_process(MODEL) as victim:
        assert service.proc is not None
        base = dict(method=args.method, norm=args.norm, eps=args.eps, budget=args.budget, images=args.images,
                    offset=args.offset, victim=victim, concurrency=args.concurrency)
        modes = {"service": AttackSettings(**base, service=service.url),
                 "service-mirror": AttackSettings(**base, service=service.url, mirror=True),
                 "in-process": AttackSettings(**base, in_process=True)}
        for round_ in range(args.rounds):
            outcomes = {}
            for mode in MODES[round_ % 3:] + MODES[:round_ % 3]:  # each mode first in turn
                took, outcomes[mode] = one_run(modes[mode], scratch / f"{mode}.jsonl", service.proc.pid)
                for name, value in took.items():
                    seconds[mode].setdefault(name, []).append(round(value, 3))
                print(f"round {round_}: {mode} {took['wall']:.2f} s", flush=True)
            if any(outcomes[mode] != outcomes["in-process"] for mode in MODES):
                raise SystemExit("the modes attacked differently: the runs must be the same attack")
    medians = {mode: {name: statistics.median(v) for name, v in figures.items()} for mode, figures in seconds.items()}
    result = {
        "benchmark": "attack_overhead", "settings": vars(args) | {"out": None},
        "seconds": seconds, "median_seconds": medians,
        "wall_over_in_process": {mode: round(medians[mode]["wall"] / medians["in-process"]["wall"], 3)
                                 for mode in MODES}, "queries_total": sum(row["spent"] for row in outcomes["service"]),
        "successes": sum(row["success"] for row in outcomes["service"]), "attacked": len(outcomes["service"]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
