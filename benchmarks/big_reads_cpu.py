"""The service's CPU per answer to each big read, measured in one process: the ASGI app called
directly (``bench_tell_cpu.call``), no sockets and no client parsing in the time, on a session
filled to its caps in the given Redis.  All of it is time the event loop is held, so the largest
answer bounds the longest stretch one read holds the loop (the waits on Redis are not in it).

Run by ``bench_big_reads.py`` as a process of its own, so that an older tree can be measured
(``PYTHONPATH`` naming its ``service`` and ``client``):

    python benchmarks/big_reads_cpu.py REDIS_URL REPORTS ROUNDS     # prints one JSON object
"""

from __future__ import annotations

import asyncio
import importlib
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench_tell_cpu import call

from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "service")]
support = importlib.import_module("big_reads_support")


async def get(app, path: str) -> dict:
    route, _, query = path.partition("?")
    answer = await call(app, "GET", route, b"", query.encode())
    assert answer["status"] == 200, (path, answer)
    return answer


async def measure(redis_url: str, reports: int, rounds: int) -> dict:
    settings = Settings(redis_url=redis_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        made = await call(app, "POST", "/v1/sessions", json.dumps(
            {"dim": 1, "x0": [1.0], "lr": 0.01, "seed": 5, "schedule": None}).encode())
        sid = json.loads(made["body"])["id"]
        for step in range(settings.trace_points + 1):
            await call(app, "POST", f"/v1/sessions/{sid}/tell",
                       json.dumps({"step": step, "f_x": 1.0, "f_plus": [1.0 + step % 7]}).encode())
        for i in range(reports):
            await call(app, "POST", f"/v1/sessions/{sid}/metrics", json.dumps(support.big_report(settings, i)).encode())
        per_answer: dict[str, list[float]] = defaultdict(list)
        whole: list[float] = []
        for warm_up in [True] + [False] * rounds:
            if warm_up is False and not whole:
                per_answer.clear()
            spent = 0.0
            for name, path in (("session", f"/v1/sessions/{sid}"), ("trace", f"/v1/sessions/{sid}/trace"),
                               ("dashboard table", "/v1/dashboard/sessions"),
                               ("dashboard session, points", f"/v1/dashboard/sessions/{sid}?points=10000")):
                started = time.process_time()
                await get(app, path)
                per_answer[name].append(time.process_time() - started)
                spent += per_answer[name][-1]
            for name, base in (("metrics page", f"/v1/sessions/{sid}/metrics?limit=10000"),
                               ("dashboard session page", f"/v1/dashboard/sessions/{sid}?limit=10000")):
                cursor = 0
                while cursor is not None:
                    started = time.process_time()
                    answer = await get(app, f"{base}&cursor={cursor}")
                    per_answer[name].append(time.process_time() - started)
                    spent += per_answer[name][-1]
                    cursor = json.loads(answer["body"])["next_cursor"]
            if not warm_up:
                whole.append(spent)
    return {"whole_read_cpu_ms": [s * 1000 for s in whole],
            "median_whole_read_cpu_ms": statistics.median(whole) * 1000,
            "answer_cpu_ms": {name: {"answers": len(v), "median": statistics.median(v) * 1000, "max": max(v) * 1000}
                              for name, v in per_answer.items()}}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))))
