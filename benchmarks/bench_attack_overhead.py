"""What the service costs a black-box attack: the same ZO attack run through the service's
sessions and in process (the core package's optimizer, no HTTP), wall time of whole runs.

Both modes attack the same test images with the same seed, budget and concurrency through one
victim process, and run the same loop: a step is one victim request of 1 + q images, then the
update, which is a tell to the service (Redis behind it) in one mode and ``Optimizer.apply`` in
the other.  They run in turns, ``--rounds`` times each, so that machine noise hits both alike;
the figure is the ratio of the medians.  Each round's records must agree between the modes
(the runs are the same attack to the bit): the benchmark fails otherwise.

    python benchmarks/bench_attack_overhead.py --images 20 --budget 1000 --rounds 3 \\
        --out benchmarks/results/attack_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from harness import redis_server, service

from zoadamm_worker.attack.launch import victim_process
from zoadamm_worker.attack.runner import AttackSettings, run_attack
from zoadamm_worker.threads import use_torch_threads

MODEL = Path(__file__).resolve().parents[1] / "results" / "attack" / "victim.pt"
OUTCOME = ("index", "success", "queries", "spent", "linf", "l2", "margin", "predicted")


def one_run(settings: AttackSettings, records: Path) -> tuple[float, list[dict]]:
    records.unlink(missing_ok=True)
    started = time.perf_counter()
    run_attack(settings, records)
    seconds = time.perf_counter() - started
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    return seconds, sorted(({k: row[k] for k in OUTCOME} for row in rows), key=lambda row: row["index"])


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
    scratch = Path("runs") / "bench-attack-overhead"
    scratch.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, list[float]] = {"service": [], "in-process": []}
    with redis_server() as redis_url, service(redis_url) as service_url, victim_process(MODEL) as victim:
        base = dict(method=args.method, norm=args.norm, eps=args.eps, budget=args.budget, images=args.images,
                    offset=args.offset, victim=victim, concurrency=args.concurrency)
        modes = {"service": AttackSettings(**base, service=service_url),
                 "in-process": AttackSettings(**base, in_process=True)}
        for round_ in range(args.rounds):
            outcomes = {}
            for mode in (("service", "in-process") if round_ % 2 == 0 else ("in-process", "service")):
                took, outcomes[mode] = one_run(modes[mode], scratch / f"{mode}.jsonl")
                seconds[mode].append(round(took, 3))
                print(f"round {round_}: {mode} {took:.2f} s", flush=True)
            if outcomes["service"] != outcomes["in-process"]:
                raise SystemExit("the two modes attacked differently: the runs must be the same attack")
    ratio = statistics.median(seconds["service"]) / statistics.median(seconds["in-process"])
    result = {
        "benchmark": "attack_overhead", "settings": vars(args) | {"out": None},
        "seconds": seconds, "median_seconds": {mode: statistics.median(v) for mode, v in seconds.items()},
        "service_over_in_process": round(ratio, 3), "queries_total": sum(row["spent"] for row in outcomes["service"]),
        "successes": sum(row["success"] for row in outcomes["service"]), "attacked": len(outcomes["service"]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
