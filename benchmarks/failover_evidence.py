"""What ``bench_failover.py`` keeps of each trial's replication: the offsets at the kill and at
the promotion, the replica's full sync, and where a lost session's keys are (or are not)."""

from __future__ import annotations

import time

import redis
from redis.crc import key_slot


def replication(cluster, port: int) -> dict:
    """A node's role and offsets; for a master, its replica's acknowledged offset; for a
    promoted node, where its copy of the old master's stream ended (``second_repl_offset`` - 1)."""
    with cluster.node(port) as node:
        info = node.info("replication")
    replica = info.get("slave0") or {}
    return {"port": port, "role": info["role"], "offset": info["master_repl_offset"],
            "replica_port": replica.get("port"), "replica_offset": replica.get("offset"),
            "replid2_ends": info.get("second_repl_offset", -1) - 1}


def slots(cluster, master: int) -> list[tuple[int, int]]:
    """The slot ranges ``master`` serves (a failover moves them whole to its replica)."""
    with cluster.node(master) as node:
        return [(start, end) for start, end, owner, *_ in node.cluster("slots") if int(owner[1]) == master]


def in_slots(key: str, ranges: list[tuple[int, int]]) -> bool:
    slot = key_slot(key.encode())
    return any(start <= slot <= end for start, end in ranges)


def resync_replica(cluster, master: int, disk_sync: bool = False) -> dict:
    """Restart ``master``'s replica with an empty data directory (no snapshot to resume from:
    a full sync), and return once its link is up: how long that took and its offset then.
    ``disk_sync``: the master sends a snapshot file it saved (``repl-diskless-sync no``)
    instead of streaming one."""
    replica = cluster.replica_of(master)
    with cluster.node(master) as node:
        node.config_set("repl-diskless-sync", "no" if disk_sync else "yes")
    cluster.kill(replica)
    (cluster.folder / str(replica) / "dump.rdb").unlink(missing_ok=True)
    began = time.monotonic()
    cluster.restart(replica, streaming=False)
    with cluster.node(replica) as node:
        synced = node.info("replication")["master_repl_offset"]
    return {"replica": replica, "restart_to_link_up_s": round(time.monotonic() - began, 2), "sync_offset": synced}


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
            if has is True:
                head, saved = node.hmget(key, "head", "ckpt_seq")
                found[port].update(head=int(head or -1), ckpt_seq=int(saved or -1))
    return found


def log_tail(cluster, port: int, lines: int = 25) -> list[str]:
    path = cluster.folder / str(port) / "redis.log"
    return path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []


def on_loss(cluster, lost: list[str], new_master: int, killed: int) -> dict:
    """Where the meta keys of the sessions that lost something are, and the two nodes' logs."""
    return {"nodes": {key: holders(cluster, key) for key in lost}, "new_master_log": log_tail(cluster, new_master),
            "killed_log": log_tail(cluster, killed)}
