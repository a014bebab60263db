"""Processes the benchmarks run against: a service (the `zoadamm-service` console script) and,
when asked, a private redis-server, both on free loopback ports and stopped on exit."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from zoadamm_service.launch import free_port, local_service


def _wait(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


@contextlib.contextmanager
def redis_server():
    """A fresh redis-server without persistence; yields its URL."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="zoadamm-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    try:
        import redis

        _wait(lambda: redis.Redis(port=port).ping(), "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def service(redis_url: str | None, workers: int = 1, extra_env: dict | None = None):
    """The service as its own process, as users run it; yields its base URL."""
    return local_service(redis_url, workers=workers, env=extra_env)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue  # it exited meanwhile
    return total


def add_before_after(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark that runs this checkout against an export of an older tree."""
    parser.add_argument("--before", default=None, help="an export of an older tree: its service and client folders")
    parser.add_argument("--before-commit", default=None, help="the commit --before was exported from")
    parser.add_argument("--pairs", type=int, default=1, choices=range(1, 6),
                        help="with --before: runs of before then after")
    parser.add_argument("--json", default=None, help="write the results here")


def before_after(args: argparse.Namespace, result: dict, run) -> None:
    """``run(redis_url, before)`` (``before``: the older tree's folder, or None for this checkout)
    for ``args.pairs`` pairs, before then after, each on a database of its own of one private
    Redis; the pairs go into ``result``, which is written to ``args.json``."""
    result.update(before_commit=args.before_commit, pairs=[])
    with redis_server() as redis_url:
        base = redis_url.rsplit("/", 1)[0]
        for pair in range(args.pairs if args.before else 1):
            runs = {}
            if args.before:
                runs["before"] = run(f"{base}/{2 * pair}", args.before)
            runs["after"] = run(f"{base}/{2 * pair + 1}", None)
            result["pairs"].append(runs)
            print(json.dumps(runs), flush=True)
    result["load_average_after"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")

