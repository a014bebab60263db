"""Several writers on one busy session: applied tells per second and discarded attempts.

Each writer (a thread with its own client) reads the open step, then tells it: an FO step with a
whole d-sized gradient (12 MB JSON-free frames at d = 2.8M), as in the worst case of the design
notes.  One writer wins each step; the others get 409 (the conditional append refused them, at
the cost of one tiny Lua call) and retry on the next step.

    python benchmarks/bench_contention.py --writers 8 --dim 2806751 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np
from harness import redis_server, service

import zoadamm
from zoadamm.sdk import ConflictError


def writer(url: str, session_id: str, dim: int, seed: int, deadline: float, counts: dict, lock) -> None:
    client = zoadamm.Client(url, max_retries=0)
    gradient = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    applied = refused = 0
    step = client.sessions.get(session_id).step
    while time.monotonic() < deadline:
        try:
            result = client.sessions.tell(session_id, step, gradient=gradient, answer="checksum")
            applied += 1
            step = result.step
        except ConflictError as exc:
            refused += 1
            step = exc.step if exc.step is not None else step
    with lock:
        counts["applied"] += applied
        counts["refused"] += refused
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--dim", type=int, default=2_806_751)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts, lock = {"applied": 0, "refused": 0}, threading.Lock()
    with redis_server() as redis_url, service(redis_url) as url:
        with zoadamm.Client(url) as client:
            session = client.sessions.create(args.dim, method="adamm", x0=np.zeros(args.dim, np.float32))
            deadline = time.monotonic() + args.seconds
            threads = [threading.Thread(target=writer, args=(url, session.id, args.dim, i, deadline, counts, lock))
                       for i in range(args.writers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            final = client.sessions.get(session.id).step
    result = {"writers": args.writers, "dim": args.dim, "seconds": args.seconds,
              "applied_per_s": counts["applied"] / args.seconds, "refused": counts["refused"],
              "applied": counts["applied"], "session_step": final}
    assert final == counts["applied"], "every acknowledged tell is one step, and no step is lost"
    print(json.dumps(result) if args.json else "\n".join(f"{k:>16}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
