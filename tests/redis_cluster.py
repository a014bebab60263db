"""A real Redis Cluster on local ports, for the tests: N masters (and R replicas each), started
with ``redis-server --cluster-enabled yes`` and joined by ``redis-cli --cluster create``.

No persistence: the nodes keep their data in memory only, so a killed master's data lives on
only in its replica, as with asynchronous replication on separate machines.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.cluster import RedisCluster

# A guard against a cluster that never forms or never fails over (the tests' own timing is
# ``NODE_TIMEOUT_MS``: a master silent that long is failed, and its replica takes over).
READY_TIMEOUT_S = 60.0
NODE_TIMEOUT_MS = 1000


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster bus ports (+10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 30000)
        if port not in ports and _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports


def _wait(check, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"the test cluster: {what} did not happen")


class LocalCluster:
    def __init__(self, folder: Path, masters: int = 3, replicas: int = 0) -> None:
        self.folder = folder
        self.ports = cluster_ports(masters * (1 + replicas))
        self.masters, self.replicas = masters, replicas
        self.procs: dict[int, subprocess.Popen] = {}
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"

    def _spawn(self, port: int) -> None:
        folder = self.folder / str(port)  # its own: a replica's full sync leaves a dump.rdb there
        folder.mkdir(exist_ok=True)
        self.procs[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", str(folder / "nodes.conf"),
             "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--dir", str(folder),
             "--save", "", "--appendonly", "no", "--logfile", str(folder / "redis.log"),
             # a replica cut off from its master for a while may still take over
             "--cluster-replica-validity-factor", "0"],
            stdout=subprocess.DEVNULL)
        _wait(lambda: self.node(port).ping(), f"node {port} answering")

    def start(self) -> LocalCluster:
        for port in self.ports:
            self._spawn(port)
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                       check=True, capture_output=True)
        self.wait_healthy()
        return self

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=5, socket_connect_timeout=1)

    def alive(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def _healthy(self) -> bool:
        for port in self.alive():
            with self.node(port) as node:
                info = node.cluster("info")
                if info["cluster_state"] != "ok" or int(info["cluster_slots_ok"]) != 16384:
                    return False
                role = node.info("replication")
                if role["role"] == "slave" and role["master_link_status"] != "up":
                    return False
                if role["role"] == "master" and self.replicas and role["connected_slaves"] < 1:
                    return False
        return True

    def wait_healthy(self) -> None:
        """Every live node sees all slots served, and every master has a replica (when asked)."""
        _wait(self._healthy, "a healthy cluster")

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.alive()[0], socket_timeout=5)

    def master_of(self, key: str) -> int:
        with self.client() as client:
            return int(client.get_node_from_key(key).port)

    def replica_of(self, master: int) -> int:
        with self.node(master) as node:
            return int(node.info("replication")["slave0"]["port"])

    def flush(self) -> None:
        with self.client() as client:
            client.flushall(target_nodes=RedisCluster.PRIMARIES)

    def kill(self, port: int) -> None:
        self.procs[port].kill()
        self.procs[port].wait()

    def failed_over(self, key: str, old_master: int) -> int:
        """Wait until another node serves ``key``'s slot and the cluster is whole; its port."""
        def moved() -> bool:
            with self.node(self.alive()[0]) as node:
                slot = node.cluster("keyslot", key)
                owner = next(s for s in node.cluster("slots") if s[0] <= slot <= s[1])
                return int(owner[2][1]) != old_master and node.cluster("info")["cluster_state"] == "ok"
        _wait(moved, f"a failover away from {old_master}")
        return self.master_of(key)

    def restart(self, port: int) -> None:
        """Start a killed node again (it rejoins as a replica of the node that replaced it)."""
        self._spawn(port)
        self.wait_healthy()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
