"""How many acknowledged steps a Redis Cluster failover loses, with and without WAIT.

A 3-master cluster with a replica each (local processes, ``tests/redis_cluster.py``), one
service process on it (``ZOADAMM_REDIS_CLUSTER=true``), and one client telling steps of a
session in a loop.  In each trial the master owning the session's slot gets SIGKILL at a random
moment mid-run; its replica takes over; the client retries its open step until acknowledged.
A step acknowledged before the kill and missing after it shows up as a 409 naming an earlier
step (a 404 when the whole session is missing).  A loss ends the trial: the client's copy is
then ahead of the service.  The killed node is then started again (it rejoins as a replica) for
the next trial.

Each trial also keeps what replication looked like: the master's replication offset and its
replica's acknowledged offset just before the kill, and the offset at which the promoted
replica's copy of the old master's stream ended (``second_repl_offset`` - 1).  A trial that does
not finish within ``--trial-timeout`` seconds ends as ``timeout``.  One line per trial goes to
stderr as it ends.

Before each trial every master must stream to its replica (a write it makes is acknowledged by
the replica, WAIT): a replica just past a full sync reports its link up up to a second before
its master sends it anything (``tests/redis_cluster.py``).  ``--right-after-resync`` skips that
wait, as this harness first did, and puts each trial's session on the master whose replica
synced last (the node the previous trial promoted): the kill then comes a fraction of a second
after that sync, and can take a whole session with it.

    python -u benchmarks/bench_failover.py --trials 20
    python -u benchmarks/bench_failover.py --trials 20 --right-after-resync --out /tmp/unsettled.json
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

import redis

ROOT = Path(__file__).resolve().parents[1]
# the tests' own cluster and client (tests/redis_cluster.py, tests/service/failover_support.py)
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "service")]
support = importlib.import_module("failover_support")
LocalCluster = importlib.import_module("redis_cluster").LocalCluster


def replication(cluster, port: int) -> dict:
    with cluster.node(port) as node:
        info = node.info("replication")
    replica = info.get("slave0") or {}
    return {"port": port, "role": info["role"], "offset": info["master_repl_offset"],
            "replica_port": replica.get("port"), "replica_offset": replica.get("offset"),
            "replid2_ends": info.get("second_repl_offset", -1) - 1}


def holders(cluster, key: str) -> dict:
    """Which live node has ``key`` (read on each node directly, replicas included; a master
    that does not serve the slot answers MOVED)."""
    found = {}
    for port in cluster.alive():
        with cluster.node(port) as node:
            node.execute_command("READONLY")
            try:
                has: bool | str = bool(node.exists(key))
            except redis.ResponseError as exc:
                has = str(exc)
            found[port] = {"role": node.info("replication")["role"], "has_session": has, "keys": node.dbsize()}
    return found


def log_tail(cluster, port: int, lines: int = 25) -> list[str]:
    path = cluster.folder / str(port) / "redis.log"
    return path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []


def trial(cluster, http, rng: random.Random, timeout_s: float, settle: bool, on: int | None = None) -> dict:
    """One kill; ``on``: a master the session must live on (sessions are created until one does)."""
    started = time.monotonic()
    run = support.Run(http)
    for _ in range(50):
        if on is None or cluster.master_of(run.meta_key()) == on:
            break
        run = support.Run(http)
    created = time.monotonic()
    for _ in range(10):
        assert run.tell_until_acknowledged() == 0
    lost, stop = [], threading.Event()

    def client() -> None:
        while not stop.is_set() and not run.refused:
            lost.append(run.tell_until_acknowledged(stop))

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    time.sleep(rng.uniform(0.0, 0.2))
    key = run.meta_key()
    master = cluster.master_of(key)
    at_kill = replication(cluster, master)
    before = run.acked.step
    killed = time.monotonic()
    cluster.kill(master)
    new_master = cluster.failed_over(key, master)
    failover_s = time.monotonic() - killed
    promoted = replication(cluster, new_master)
    with cluster.node(new_master) as node:
        head = node.hget(key, "head")
    cluster.restart(master, streaming=settle)
    target = run.acked.step + 10
    deadline = started + timeout_s
    while run.acked.step < target and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=70)  # one request's own timeout (60 s), then the thread sees stop
    outcome = {404: "session_missing", 409: "steps_lost"}.get(run.refused or 0, "ok")
    if outcome == "ok" and run.acked.step < target:
        outcome = "timeout"
    row = {"outcome": outcome, "lost": sum(lost), "acked_before_kill": before,
           "failover_s": round(failover_s, 2), "trial_s": round(time.monotonic() - started, 2),
           "created_before_kill_s": round(killed - created, 2), "killed": at_kill, "promoted": promoted,
           "head_on_new_master": None if head is None else int(head), "on_resynced_master": master == on}
    if outcome != "ok":
        row["evidence"] = {"nodes": holders(cluster, key), "new_master_log": log_tail(cluster, new_master),
                           "killed_log": log_tail(cluster, master)}
    return row


def summary(rows: list[dict]) -> dict:
    lost = [r["lost"] for r in rows]
    return {"trials": len(rows), "trials_losing_steps": sum(1 for n in lost if n), "steps_lost": sum(lost),
            "outcomes": {o: sum(1 for r in rows if r["outcome"] == o) for o in sorted({r["outcome"] for r in rows})},
            "failover_s_median": sorted(r["failover_s"] for r in rows)[len(rows) // 2],
            "trial_s_max": max(r["trial_s"] for r in rows), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--trial-timeout", type=float, default=120.0, help="seconds before a trial ends as timeout")
    parser.add_argument("--right-after-resync", action="store_true",
                        help="start the next trial once the restarted node's link is up, not once its master "
                             "streams to it, with the session on that master (a kill may then come while the "
                             "replica has nothing after its sync)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "failover.json"))
    args = parser.parse_args()
    rng = random.Random(0)
    results: dict = {}
    began = time.monotonic()
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="zoadamm-failover-")), masters=3, replicas=1).start()
    try:
        for wait in (0, 1):
            rows: list[dict] = []
            resynced = None  # the master whose replica synced last: the previous trial's promoted node
            with support.cluster_service(cluster, wait_replicas=wait, wait_timeout_ms=300) as http:
                for i in range(args.trials):
                    rows.append(trial(cluster, http, rng, args.trial_timeout, not args.right_after_resync, resynced))
                    if args.right_after_resync:
                        resynced = rows[-1]["promoted"]["port"]
                    results[f"wait_replicas={wait}"] = summary(rows)  # kept as it grows: a stopped run keeps its rows
                    r = rows[-1]
                    print(f"[{time.monotonic() - began:7.1f} s] WAIT {wait} trial {i + 1}/{args.trials}: "
                          f"{r['outcome']}, lost {r['lost']}, trial {r['trial_s']} s, failover {r['failover_s']} s, "
                          f"master offset {r['killed']['offset']} replica {r['killed']['replica_offset']}, "
                          f"promoted copy ends {r['promoted']['replid2_ends']}", file=sys.stderr, flush=True)
            s = results[f"wait_replicas={wait}"]
            print(f"WAIT {wait}: {s['trials_losing_steps']} of {s['trials']} kills lost acknowledged steps "
                  f"({s['steps_lost']} steps; {s['outcomes']}); failover {s['failover_s_median']} s median",
                  flush=True)
    finally:
        cluster.stop()
        results["settled"] = not args.right_after_resync
        results["total_s"] = round(time.monotonic() - began, 1)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
