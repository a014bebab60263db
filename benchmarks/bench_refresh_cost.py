"""Redis's own time per step append, with the idle TTL at 0 (the default), for the append script
as it is (under TTL 0 its refresh PERSISTs each session key it writes, taking off an expiry
that an earlier TTL set) against the same script whose refresh does nothing under TTL 0, as
before.  The time is Redis's (``INFO commandstats``' usec_per_call of EVALSHA), which the
service's CPU per tell does not see; blocks alternate between the two scripts on a fresh
redis-server of this benchmark's own.

    python benchmarks/bench_refresh_cost.py --appends 5000 --blocks 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from pathlib import Path

import redis.asyncio as aioredis
from harness import redis_server

from zoadamm_service.domain.trace import POINT
from zoadamm_service.store import scripts
from zoadamm_service.store.base import SessionMeta, TracePoint
from zoadamm_service.store.fast_script import FastScript
from zoadamm_service.store.redis import RedisStore

PERSISTING = "  else\n    for _, i in ipairs({...}) do redis.call('PERSIST', KEYS[i]) end\n"
assert PERSISTING in scripts.APPEND, "the append script's refresh changed: update this benchmark"
SCRIPTS = {"persist under TTL 0": scripts.APPEND, "nothing under TTL 0": scripts.APPEND.replace(PERSISTING, "")}
CONFIG = {"dim": 3, "directions": 1, "lr": 0.1, "mu": 0.01, "seed": 1}


async def block(store: RedisStore, admin: aioredis.Redis, session_id: str, first: int, appends: int) -> float:
    """Redis's microseconds per append of ``appends`` steps from seq ``first``."""
    await admin.config_resetstat()
    for seq in range(first, first + appends):
        point = TracePoint(seq, POINT.pack(seq, 1.0, 1.0, 1.0, 0.0, 0.1, 0.01), 2048)  # the trace's default
        await store.append(session_id, seq, b"event", trace=point)
    stats = await admin.info("commandstats")
    return float(stats["cmdstat_evalsha"]["usec_per_call"])


async def measure(url: str, appends: int, blocks: int) -> dict[str, list[float]]:
    store, admin = RedisStore.from_url(url), aioredis.from_url(url)
    await store.create(SessionMeta("bench", "open", None, CONFIG, 1.0), b"ckpt-0")
    client = store._redis
    variants = {name: FastScript(client.register_script(text), client) for name, text in SCRIPTS.items()}
    per_append: dict[str, list[float]] = {name: [] for name in variants}
    seq = 0
    for i in range(blocks + 1):
        for name, script in variants.items():
            store._append = script
            cost = await block(store, admin, "bench", seq, appends)
            seq += appends
            if i:  # the first round warms up
                per_append[name].append(cost)
    await store.close()
    await admin.aclose()
    return per_append


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=5000, help="appends per block")
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results") / "refresh_cost.json"))
    args = parser.parse_args()
    with redis_server() as url:
        per_append = asyncio.run(measure(url, args.appends, args.blocks))
    medians = {name: statistics.median(v) for name, v in per_append.items()}
    names = list(SCRIPTS)
    result = {"command": "python benchmarks/bench_refresh_cost.py " + " ".join(sys.argv[1:]),
              "redis_us_per_append": per_append, "median_us": medians,
              "persist_over_nothing": medians[names[0]] / medians[names[1]],
              "load_average": os.getloadavg()[0]}
    print(json.dumps(medians), f"ratio {result['persist_over_nothing']:.3f}")
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
