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
from redis.crc import key_slot

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

    def _streaming(self) -> bool:
        """Every master's replicas acknowledge a write made now (WAIT): the replication stream
        flows.  A replica just past a diskless full sync reports its link up while its master
        still holds the stream back: the master starts it on a REPLCONF ACK from the replica,
        and the one the replica sends right after loading can arrive before the master has
        reaped the child that streamed the RDB (it does so on its cron, here ~100 ms later);
        then the stream waits for the replica's next periodic ACK, up to a second.  Until then
        the replica has nothing written after the sync."""
        with self.node(self.alive()[0]) as node:
            slots = node.cluster("slots")
        for start, end, master, *replicas in slots:
            if len(replicas) < self.replicas:
                return False
            probe = next(key for key in (f"cluster-probe:{i}" for i in range(100_000))
                         if start <= key_slot(key.encode()) <= end)
            with self.node(int(master[1])) as node:
                node.set(probe, "1", px=10_000)
                if int(node.execute_command("WAIT", self.replicas, 100)) < self.replicas:
                    return False
        return True

    def wait_healthy(self, streaming: bool = True) -> None:
        """Every live node sees all slots served, and every master has a replica (when asked)
        to which it streams its writes (unless not ``streaming``: a replica whose link is up)."""
        _wait(self._healthy, "a healthy cluster")
        if streaming and self.replicas:
            _wait(self._streaming, "replication streaming to every replica")

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

    def restart(self, port: int, streaming: bool = True) -> None:
        """Start a killed node again (it rejoins as a replica of the node that replaced it);
        return once it is synced and (``streaming``) receives its master's writes."""
        self._spawn(port)
        self.wait_healthy(streaming)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
