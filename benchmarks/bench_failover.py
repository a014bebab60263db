"""How many acknowledged steps a Redis Cluster failover loses, with and without WAIT.

A 3-master cluster with a replica each (local processes, ``tests/redis_cluster.py``), one
service process on it (``ZOADAMM_REDIS_CLUSTER=true``), and one client telling steps of a
session in a loop.  In each trial the master owning the session's slot gets SIGKILL at a random
moment mid-run; its replica takes over; the client retries its open step until acknowledged.
A step acknowledged before the kill and missing after it shows up as a 409 naming an earlier
step.  The killed node is then started again (it rejoins as a replica) for the next trial.

    python benchmarks/bench_failover.py --trials 20
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the tests' own cluster and client (tests/redis_cluster.py, tests/service/failover_support.py)
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "service")]
support = importlib.import_module("failover_support")
LocalCluster = importlib.import_module("redis_cluster").LocalCluster


def trial(cluster, http, rng: random.Random) -> dict:
    run = support.Run(http)
    for _ in range(10):
        assert run.tell_until_acknowledged() == 0
    lost, stop = [], threading.Event()

    def client() -> None:
        while not stop.is_set():
            lost.append(run.tell_until_acknowledged())

    thread = threading.Thread(target=client)
    thread.start()
    time.sleep(rng.uniform(0.0, 0.2))
    master = cluster.master_of(run.meta_key())
    before = run.acked.step
    killed = time.monotonic()
    cluster.kill(master)
    cluster.failed_over(run.meta_key(), master)
    failover_s = time.monotonic() - killed
    cluster.restart(master)
    target = run.acked.step + 10
    while run.acked.step < target and thread.is_alive():
        time.sleep(0.05)
    stop.set()
    thread.join()
    return {"lost": sum(lost), "acked_before_kill": before, "failover_s": round(failover_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "failover.json"))
    args = parser.parse_args()
    rng = random.Random(0)
    results = {}
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="zoadamm-failover-")), masters=3, replicas=1).start()
    try:
        for wait in (0, 1):
            with support.cluster_service(cluster, wait_replicas=wait, wait_timeout_ms=300) as http:
                rows = [trial(cluster, http, rng) for _ in range(args.trials)]
            lost = [r["lost"] for r in rows]
            results[f"wait_replicas={wait}"] = {
                "trials": len(rows), "trials_losing_steps": sum(1 for n in lost if n), "steps_lost": sum(lost),
                "failover_s_median": sorted(r["failover_s"] for r in rows)[len(rows) // 2], "rows": rows}
            print(f"WAIT {wait}: {sum(1 for n in lost if n)} of {len(rows)} kills lost acknowledged steps "
                  f"({sum(lost)} steps); failover {results[f'wait_replicas={wait}']['failover_s_median']} s median")
    finally:
        cluster.stop()
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
