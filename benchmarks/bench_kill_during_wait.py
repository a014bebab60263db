"""A master SIGKILLed while the store's replica confirmation (probe, then WAIT) waits on it:
does the store confirm the write anyway?

A 3-master cluster with a replica each (``tests/redis_cluster.py``).  Each trial writes a
session's head (1) on its master, stops that master's replica (SIGSTOP: its link stays up and it
acknowledges nothing, as while a master holds the stream back after a full sync), starts
``store.replicated(session, 1)`` with a WAIT timeout far longer than the trial, kills the master
once the WAIT is seen waiting there (``CLIENT LIST``), and records whether the call returned
(confirmed: a write the promoted replica never had) or raised StoreUnavailable (503).  The
store is whichever ``zoadamm_service`` comes first on ``PYTHONPATH`` (an older commit's, to
compare).

    python benchmarks/bench_kill_during_wait.py --trials 6 --out benchmarks/results/kill_during_wait.json
    git archive 23bef33^ service | tar -x -C /tmp/before && PYTHONPATH=/tmp/before/service \
        python benchmarks/bench_kill_during_wait.py --label "before (23bef33^)" \
        --out benchmarks/results/kill_during_wait_before.json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

from zoadamm_service import keys
from zoadamm_service.errors import StoreUnavailable
from zoadamm_service.store.redis import RedisStore

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]
LocalCluster = importlib.import_module("redis_cluster").LocalCluster


def wait_seen(cluster, master: int) -> None:
    with cluster.node(master) as node:
        while not [c for c in node.client_list() if c["cmd"] == "wait"]:
            time.sleep(0.005)


async def trials(cluster, count: int) -> list[dict]:
    rows = []
    store = RedisStore.from_url(cluster.url, cluster=True, wait_replicas=1, wait_timeout_ms=30_000)
    try:
        await store.ping()
        for _ in range(count):
            session = uuid.uuid4().hex
            with cluster.client() as client:
                client.hset(keys.meta(session), mapping={"head": 1})
            master = cluster.master_of(keys.meta(session))
            await store.head(session)  # the store's client learns where the session is
            replica = cluster.replica_of(master)
            default = store._redis.get_default_node()
            os.kill(cluster.procs[replica].pid, signal.SIGSTOP)
            confirming = asyncio.ensure_future(store.replicated(session, 1))
            await asyncio.to_thread(wait_seen, cluster, master)
            cluster.kill(master)
            row: dict = {"master": master, "default_node": None if default is None else int(default.port)}
            try:
                await confirming
                row["outcome"] = "confirmed"
            except StoreUnavailable as exc:
                row["outcome"], row["detail"] = "503", str(exc)
            os.kill(cluster.procs[replica].pid, signal.SIGCONT)
            cluster.failed_over(keys.meta(session), master)
            cluster.restart(master)
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    finally:
        await store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "kill_during_wait.json"))
    parser.add_argument("--label", default="this commit", help="which store this is, for the results")
    args = parser.parse_args()
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="zoadamm-kill-wait-")), masters=3, replicas=1).start()
    try:
        rows = asyncio.run(trials(cluster, args.trials))
    finally:
        cluster.stop()
    result = {"store": args.label, "trials": len(rows),
              "confirmed": sum(r["outcome"] == "confirmed" for r in rows), "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))


if __name__ == "__main__":
    main()
