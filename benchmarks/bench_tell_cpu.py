"""The service's own CPU per tell: the ASGI app called in this process, no sockets, so the
number is the framework, the middleware, the session rules and the store, nothing else.

A ZO session (q = 1) on the embedded store; tells with JSON bodies and checksum answers, in
blocks after a warm-up; CPU time (``time.process_time``, threads included) per tell.  With
``--redis`` the session lives in a private redis-server, the tells carry an API key and a rate
limit counts them there, as in production (this process's CPU only: Redis's own is not in it).

    python benchmarks/bench_tell_cpu.py --dim 1400 --tells 400 --blocks 7 [--redis] [--out FILE]

``--out`` adds the run to FILE (a JSON list; ``--label`` names it, e.g. before or after).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from harness import redis_server

from zoadamm import wire
from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings
from zoadamm_service.tenants import entry, new_key

HEADERS: list[tuple[bytes, bytes]] = []  # sent with every call (the API key)


async def call(app, method: str, path: str, body: bytes, query: bytes = b"", media: bytes = b"application/json"):
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": query,
             "headers": [(b"content-type", media), *HEADERS], "http_version": "1.1", "scheme": "http",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "root_path": "", "state": {}}
    sent, answer = False, {}

    async def receive():
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # the app never reads past the body
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] = answer.get("body", b"") + message.get("body", b"")

    await app(scope, receive, send)
    return answer


async def measure(dim: int, tells: int, blocks: int, settings: Settings) -> list[float]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        made = await call(app, "POST", "/v1/sessions",
                          wire.encode({"dim": dim, "seed": 1, "directions": 1}, {"x0": np.zeros(dim, np.float32)}),
                          media=wire.MEDIA_TYPE.encode())
        session = json.loads(made["body"])["id"]
        step, per_tell = 0, []
        for block in range(blocks + 1):
            started = time.process_time()
            for _ in range(tells):
                body = json.dumps({"step": step, "f_x": 1.0, "f_plus": [1.0 + 1e-3 * (step % 7)]}).encode()
                answer = await call(app, "POST", f"/v1/sessions/{session}/tell", body, b"answer=checksum")
                assert answer["status"] == 200, answer
                step += 1
            if block:  # the first block warms up
                per_tell.append((time.process_time() - started) / tells * 1e6)
        return per_tell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=1400)
    parser.add_argument("--tells", type=int, default=400, help="tells per block")
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--redis", action="store_true", help="Redis store, an API key and a rate limit")
    parser.add_argument("--out", default=None, help="a JSON list of runs to add this one to")
    parser.add_argument("--label", default="", help="what this run measures (the code before or after)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        settings = Settings(redis_url=None)
        if args.redis:
            key = new_key()
            HEADERS.append((b"authorization", f"Bearer {key}".encode()))
            settings = Settings(redis_url=stack.enter_context(redis_server()), api_keys=entry("bench", key),
                                rate_limit="100000/second")
        per_tell = asyncio.run(measure(args.dim, args.tells, args.blocks, settings))
    where = "Redis, API key, rate limit" if args.redis else "embedded store, open"
    print(f"d = {args.dim:,} ({where}): {statistics.median(per_tell):.0f} us of CPU per tell (median of "
          f"{args.blocks} blocks of {args.tells}; min {min(per_tell):.0f}; load average {os.getloadavg()[0]:.2f})")
    if args.out:
        runs = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else []
        runs.append({"command": "python benchmarks/bench_tell_cpu.py " + " ".join(sys.argv[1:]), "label": args.label,
                     "cpu_us_per_tell": per_tell, "median_us": statistics.median(per_tell),
                     "load_average": os.getloadavg()[0]})
        Path(args.out).write_text(json.dumps(runs, indent=1) + "\n")


if __name__ == "__main__":
    main()
