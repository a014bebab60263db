"""What a Redis Cluster failover loses, with and without WAIT: acknowledged steps, parts of
split steps, whole sessions.

A 3-master cluster with a replica each (local processes with their own data directories,
``tests/redis_cluster.py``) and two service processes on it (``ZOADAMM_REDIS_CLUSTER=true``,
a checkpoint every ``--checkpoint-every`` steps).  Each trial puts two sessions on one master:
one told in whole steps, one whose steps are told in two parts (as two workers sharing a step
report them), each by a client thread in a loop that retries its open step until acknowledged.
That master gets SIGKILL at a random moment (0 to 0.2 s) mid-run, and its replica takes over.
An acknowledged step missing afterwards shows up as a 409 naming an earlier step, an
acknowledged part as pending again, a lost session as a 404; the first loss ends that
session's run (the client's copy is then ahead of the service).  Once each session has 10
more steps, the other service process, which never served it, reads its x from the store (the
new master's checkpoint and journal): it must equal the client's copy bit for bit.  The killed
node is started again (it rejoins as a replica), and the next trial starts once every master
streams to its replica.

``--resync`` kills the master right after its replica's full sync instead: the replica is
restarted with an empty data directory (a replaced machine), and the kill comes 0 to 0.2 s
after its link is up.  Redis then may hold the replication stream back for up to a second
(the master starts it on the replica's acknowledgement, and one that comes before the master
has reaped the child that streamed the snapshot is ignored).  A third session is created on
that master as soon as the link is up, inside that window.  ``--disk-sync`` has the master
send the sync as a file it saved instead (``repl-diskless-sync no``): the stream then starts as
soon as the file is sent.

    python -u benchmarks/bench_failover.py             # benchmarks/results/failover.json
    python -u benchmarks/bench_failover.py --resync    # benchmarks/results/failover_resync.json
    python -u benchmarks/bench_failover.py --resync --disk-sync --wait 0

One line per trial goes to stderr as it ends.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import failover_evidence as evidence

ROOT = Path(__file__).resolve().parents[1]
# the tests' own cluster and client (tests/redis_cluster.py, tests/service/failover_support.py)
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "service")]
support = importlib.import_module("failover_support")
LocalCluster = importlib.import_module("redis_cluster").LocalCluster

MORE_STEPS = 10  # steps each session must take after the failover
SESSION_TRIES = 50  # creates until a session lands on the trial's master


class Client:
    """A session told in a loop by its own thread; ``error`` keeps what stopped it otherwise."""

    def __init__(self, kind: str, make_run: Callable[[], Any]) -> None:
        self.kind = kind
        self.run: Any = None  # a failover_support.Run once created
        self.error: str | None = None
        self.lost = 0  # acknowledged steps found missing
        self.started, self.created_at = time.monotonic(), 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, args=(make_run,), daemon=True)
        self.thread.start()

    def _loop(self, make_run: Callable[[], Any]) -> None:
        try:
            run = self.run = make_run()
            self.created_at = time.monotonic()
            while not self.stop.is_set() and run.loss is None:
                self.lost += run.tell_until_acknowledged(self.stop)
        except Exception as exc:  # an assertion of the client's copy, an unexpected answer
            self.error = f"{type(exc).__name__}: {exc}"

    def acked(self) -> int:
        return 0 if self.run is None else self.run.steps_acked

    def done(self, target: int) -> bool:
        return not self.thread.is_alive() or self.acked() >= target


def on_master(http, ranges: list[tuple[int, int]], parts: int) -> Any:
    """A session in the slots ``ranges`` (created until one lands there)."""
    for _ in range(SESSION_TRIES):
        run = support.Run(http, parts)
        if evidence.in_slots(run.meta_key(), ranges):
            return run
    raise AssertionError(f"no session landed in {ranges} in {SESSION_TRIES} creates")


def wait_for(clients: list[Client], targets: dict[str, int], deadline: float) -> None:
    while not all(c.done(targets[c.kind]) for c in clients) and time.monotonic() < deadline:
        time.sleep(0.01)


def trial(cluster, http, reader, rng: random.Random, args) -> dict:
    started = time.monotonic()
    deadline = started + args.trial_timeout
    first = support.Run(http)
    master = cluster.master_of(first.meta_key())
    ranges = evidence.slots(cluster, master)
    clients = [Client("whole", lambda: first), Client("split", lambda: on_master(http, ranges, 2))]
    wait_for(clients, {"whole": MORE_STEPS, "split": MORE_STEPS}, deadline)
    row: dict = {"master": master}
    if args.resync:
        row["resync"] = evidence.resync_replica(cluster, master, args.disk_sync)
        clients.append(Client("created_at_link_up", lambda: on_master(http, ranges, 1)))
    time.sleep(rng.uniform(0.0, 0.2))
    row["killed"] = evidence.replication(cluster, master)
    at_kill = {c.kind: c.acked() for c in clients}
    kill_time = time.monotonic()
    cluster.kill(master)
    new_master = cluster.failed_over(first.meta_key(), master)
    row["failover_s"] = round(time.monotonic() - kill_time, 2)
    row["promoted"] = evidence.replication(cluster, new_master)
    cluster.restart(master)
    wait_for(clients, {kind: n + MORE_STEPS for kind, n in at_kill.items()}, deadline)
    for c in clients:
        c.stop.set()
    for c in clients:
        c.thread.join(timeout=70)  # one request's own timeout (60 s), then the thread sees stop
    row["sessions"] = [session_row(c, at_kill[c.kind], kill_time, reader) for c in clients]
    row["trial_s"] = round(time.monotonic() - started, 2)
    lost = [c.run.meta_key() for c, s in zip(clients, row["sessions"], strict=True) if c.run and s["outcome"] != "ok"]
    if lost:
        row["evidence"] = evidence.on_loss(cluster, lost, new_master, master)
    return row


def session_row(client: Client, acked_at_kill: int, kill_time: float, reader) -> dict:
    run = client.run
    row: dict = {"kind": client.kind, "outcome": "error" if client.error else "ok", "error": client.error}
    if run is None:
        return row
    row.update(steps_acked=run.steps_acked, acked_before_kill=acked_at_kill, steps_lost=client.lost,
               creates=run.creates, create_s=round(client.created_at - client.started, 3),
               created_before_kill=client.created_at < kill_time)
    if run.loss:
        row["outcome"] = run.loss
        row["answers"] = list(run.answers)  # the latest answers, the one that showed the loss last
    elif not client.error:
        if run.steps_acked < acked_at_kill + MORE_STEPS:
            row["outcome"] = "timeout"
        row["x_from_store_equal"] = run.x_equal(reader)
    return row


def summary(rows: list[dict]) -> dict:
    sessions = [s for r in rows for s in r["sessions"]]
    count = lambda outcome: sum(1 for s in sessions if s["outcome"] == outcome)  # noqa: E731
    return {"trials": len(rows), "sessions": len(sessions),
            "steps_acknowledged": sum(s.get("steps_acked", 0) for s in sessions),
            "steps_lost": sum(s.get("steps_lost", 0) for s in sessions),
            "sessions_with_steps_lost": count("steps_lost"), "parts_lost": count("part_lost"),
            "sessions_missing": count("session_missing"),
            "x_from_store_differs": sum(1 for s in sessions if s.get("x_from_store_equal") is False),
            "timeouts": count("timeout"), "errors": count("error"),
            "creates_refused": sum(s.get("creates", 1) - 1 for s in sessions),
            "created_before_kill": sum(1 for s in sessions if s.get("created_before_kill")),
            "stream_held_back": sum(1 for r in rows if held_back(r)),
            "failover_s_median": sorted(r["failover_s"] for r in rows)[len(rows) // 2],
            "trial_s_max": max(r["trial_s"] for r in rows), "rows": rows}


def held_back(row: dict) -> bool:
    """Whether the kill (``--resync``) found the promoted replica with nothing written after its
    full sync, while its master had written more."""
    synced = row.get("resync", {}).get("sync_offset")
    return synced is not None and row["promoted"]["replid2_ends"] == synced < row["killed"]["offset"]


def line(began: float, wait: int, i: int, trials: int, row: dict) -> str:
    outcomes = ", ".join(f"{s['kind']} {s['outcome']}" + (f" {s['steps_lost']}" if s.get("steps_lost") else "")
                         for s in row["sessions"])
    return (f"[{time.monotonic() - began:7.1f} s] WAIT {wait} trial {i + 1}/{trials}: {outcomes}; "
            f"trial {row['trial_s']} s, failover {row['failover_s']} s, master offset {row['killed']['offset']} "
            f"replica {row['killed']['replica_offset']}, promoted copy ends {row['promoted']['replid2_ends']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50, help="kills per WAIT setting")
    parser.add_argument("--wait", type=int, nargs="+", default=[0, 1], help="ZOADAMM_REDIS_WAIT_REPLICAS values")
    parser.add_argument("--resync", action="store_true",
                        help="kill the master right after its replica's full sync, from an empty data directory")
    parser.add_argument("--disk-sync", action="store_true",
                        help="with --resync: the master sends the full sync from a file (repl-diskless-sync no)")
    parser.add_argument("--checkpoint-every", type=int, default=5, help="ZOADAMM_CHECKPOINT_EVERY")
    parser.add_argument("--trial-timeout", type=float, default=120.0, help="seconds before a trial ends as timeout")
    parser.add_argument("--out", help="default: benchmarks/results/failover.json, failover_resync.json, ...")
    args = parser.parse_args()
    name = "failover" + ("_resync" if args.resync else "") + ("_disk_sync" if args.disk_sync else "")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"{name}.json")
    rng = random.Random(0)
    results: dict = {"command": " ".join(sys.argv[1:]), "resync": args.resync, "disk_sync": args.disk_sync,
                     "checkpoint_every": args.checkpoint_every}
    began = time.monotonic()
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="zoadamm-failover-")), masters=3, replicas=1).start()
    try:
        for wait in args.wait:
            rows: list[dict] = []
            processes: list = []
            services = support.cluster_services(cluster, 2, wait_replicas=wait, wait_timeout_ms=300,
                                                checkpoint_every=args.checkpoint_every, processes=processes)
            with services as (http, reader):
                for i in range(args.trials):
                    rows.append(trial(cluster, http, reader, rng, args))
                    if any(s["outcome"] == "error" for s in rows[-1]["sessions"]):
                        rows[-1]["service_log"] = processes[0].output()[-6000:].splitlines()
                    results[f"wait_replicas={wait}"] = summary(rows)
                    out.write_text(json.dumps(results, indent=1) + "\n")  # as it grows: a stopped run keeps its rows
                    print(line(began, wait, i, args.trials, rows[-1]), file=sys.stderr, flush=True)
            s = {k: v for k, v in results[f"wait_replicas={wait}"].items() if k != "rows"}
            print(f"WAIT {wait}: {json.dumps(s)}", flush=True)
    finally:
        cluster.stop()
        results["total_s"] = round(time.monotonic() - began, 1)
        out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
