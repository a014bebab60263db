"""Client CPU per synchronous tell (d = 1,400, q = 1, mirror answers): the SDK's ``Client`` over
the workers' ``LeanTransport``, over httpx's own transport, and, as a floor, the same tell as a
bare ``http.client`` request with a JSON body made by hand (no SDK, no httpx).  With
``--before FILE`` (an earlier ``zoadamm_worker/transport.py``) also the SDK over that file's
transport.  All against one service process on Redis, in turns, 200 tells a turn; CPU time of
this process (the tells are synchronous: nothing else runs in it).

    git show REV:worker/zoadamm_worker/transport.py > transport_before.py
    python bench_client_tell.py --before transport_before.py --before-commit REV --json   # from benchmarks/
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_ball_passes import load
from harness import redis_server, service

import zoadamm
from zoadamm import Client
from zoadamm_worker.transport import LeanTransport


def measure(url: str, rounds: int, tells: int, before) -> dict[str, float]:
    clients = {"lean": Client(url, transport=LeanTransport()), "httpx": Client(url)}
    if before is not None:
        clients["lean-before"] = Client(url, transport=before.LeanTransport())
    run = zoadamm.RemoteOptimizer.create(clients["lean"], np.zeros(1400, np.float32), mirror=False, seed=1)
    session, step = run.id, run.step
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    bare = http.client.HTTPConnection(host, int(port))
    bare.connect()
    bare.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def floor(step: int) -> None:
        body = json.dumps({"step": step, "f_x": 1.0, "f_plus": [1.0]}).encode()
        bare.request("POST", f"/v1/sessions/{session}/tell?answer=checksum", body, {"content-type": "application/json"})
        answer = bare.getresponse()
        answer.read()
        assert answer.status == 200

    def sdk(client: Client) -> Callable[[int], object]:
        return lambda step: client.sessions.tell(session, step, answer="checksum", f_x=1.0, f_plus=[1.0])

    sends: dict[str, Callable[[int], object]] = {name: sdk(client) for name, client in clients.items()}
    sends["floor"] = floor
    cpu: dict[str, list[float]] = {name: [] for name in sends}
    for turn in range(rounds + 1):  # the first turn warms up and is dropped
        for name, send in sends.items():
            started = time.process_time()
            for _ in range(tells):
                send(step)
                step += 1
            if turn:
                cpu[name].append((time.process_time() - started) / tells * 1e3)
    return {name: statistics.median(times) for name, times in cpu.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--tells", type=int, default=200)
    parser.add_argument("--before", help="a file with an earlier version of zoadamm_worker/transport.py")
    parser.add_argument("--before-commit", help="the commit that file comes from, for the results")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    before = load(args.before) if args.before else None
    with redis_server() as redis_url, service(redis_url) as url:
        result = {"d": 1400, "rounds": args.rounds, "tells_per_round": args.tells,
                  "before": args.before_commit or (Path(args.before).name if args.before else None),
                  "cpu_ms_per_tell": measure(url, args.rounds, args.tells, before)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name, ms in result["cpu_ms_per_tell"].items():
        print(f"{name:>12} {ms:.3f} ms client CPU per tell")


if __name__ == "__main__":
    main()
