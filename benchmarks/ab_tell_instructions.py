"""Instructions per tell of the service's app, this checkout against another's: a count that
does not depend on what else the machine runs (valgrind's callgrind), for changes too small to
see through the noise of a CPU-time benchmark on a busy machine.

Each side runs in a process of its own under callgrind with instrumentation off: it builds the
app (``bench_tell_cpu.py``'s in-process ASGI calls: Redis, an API key and a rate limit), makes
a session of d = --dim, warms up with 100 tells, then instrumentation is switched on from
outside (``callgrind_control``) for --tells tells and off again.  No HTTP server runs: the
count is the app's (middleware, session rules, store client), the part a change to the service
moves.  ``--baseline DIR`` holds the other version's ``service`` and ``client`` packages
(``git archive COMMIT service client | tar -x -C DIR``), first on PYTHONPATH for its runs;
``--after DIR`` (made the same way) measures that version instead of this checkout.

    python benchmarks/ab_tell_instructions.py --baseline DIR --baseline-commit BASE \\
        --runs 2 --json benchmarks/results/tell_instructions_ab.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def tells(dim: int, count: int, marks: str) -> None:
    """The measured process: warm up, say so, wait for the go, tell ``count`` times, say so."""
    import numpy as np
    from bench_tell_cpu import HEADERS, call
    from harness import redis_server

    from zoadamm import wire
    from zoadamm_service import main as service_main
    from zoadamm_service.main import create_app
    from zoadamm_service.settings import Settings
    from zoadamm_service.tenants import entry, new_key

    async def drive(settings: Settings) -> None:
        # the process made ready as zoadamm-service makes it, in versions that do
        getattr(service_main, "prepare_process", lambda: None)()
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            made = await call(app, "POST", "/v1/sessions", wire.encode(
                {"dim": dim, "seed": 1, "directions": 1}, {"x0": np.zeros(dim, np.float32)}),
                media=wire.MEDIA_TYPE.encode())
            session = json.loads(made["body"])["id"]
            for step in range(100 + count):
                if step == 100:
                    Path(marks + ".ready").touch()
                    while not Path(marks + ".go").exists():
                        time.sleep(0.05)
                body = json.dumps({"step": step, "f_x": 1.0, "f_plus": [1.0 + 1e-3 * (step % 7)]}).encode()
                answer = await call(app, "POST", f"/v1/sessions/{session}/tell", body, b"answer=checksum")
                assert answer["status"] == 200, answer
            Path(marks + ".done").touch()

    with contextlib.ExitStack() as stack:
        key = new_key()
        HEADERS.append((b"authorization", f"Bearer {key}".encode()))
        asyncio.run(drive(Settings(redis_url=stack.enter_context(redis_server()), api_keys=entry("bench", key),
                                   rate_limit="100000/second")))


def count(baseline: str | None, dim: int, calls: int) -> float:
    """Instructions per tell of one side, in a callgrind process of its own."""
    with tempfile.TemporaryDirectory() as folder:
        marks, out = f"{folder}/marks", f"{folder}/callgrind.out"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
            baseline and f"{baseline}/service", baseline and f"{baseline}/client", str(HERE)]))}
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                                 sys.executable, __file__, "--measured", str(dim), str(calls), marks],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(marks + ".ready", proc)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        Path(marks + ".go").touch()
        _wait_for(marks + ".done", proc)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
        if proc.wait() != 0:
            raise RuntimeError("the measured process failed")
        # each dump's ``totals:`` line is its count (its ``summary:`` line reads 0 when
        # instrumentation starts off, as here)
        total = sum(int(line.split()[1]) for file in Path(folder).glob("callgrind.out*")
                    for line in file.read_text().splitlines() if line.startswith("totals:"))
        return total / calls


def _wait_for(path: str, proc: subprocess.Popen) -> None:
    while not Path(path).exists():
        if proc.poll() is not None:
            raise RuntimeError("the measured process ended early")
        time.sleep(0.2)


def main() -> None:
    if sys.argv[1:2] == ["--measured"]:
        tells(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="a folder with another version's service and client")
    parser.add_argument("--baseline-commit", required=True, help="the commit the baseline folder holds")
    parser.add_argument("--after", default=None, help="a folder with the version to compare (default: this checkout)")
    parser.add_argument("--after-commit", default=None, help="the commit the --after folder holds")
    parser.add_argument("--runs", type=int, default=2, help="runs per side, alternating, baseline first")
    parser.add_argument("--tells", type=int, default=200)
    parser.add_argument("--dim", type=int, default=1400)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.after and not args.after_commit:
        parser.error("--after needs --after-commit")
    runs: dict[str, list[float]] = {"before": [], "after": []}
    for run in range(args.runs):
        for side, folder in (("before", args.baseline), ("after", args.after)):
            runs[side].append(count(folder, args.dim, args.tells))
            print(f"run {run + 1} {side:>6}: {runs[side][-1]:,.0f} instructions per tell", flush=True)
    medians = {side: statistics.median(found) for side, found in runs.items()}
    print(f"after/before {medians['after'] / medians['before']:.3f}")
    if args.json:
        commit = args.after_commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                                     text=True, cwd=HERE).stdout.strip()
        args.json.write_text(json.dumps({
            # the folders of the code compared are scratch: named as the docstring names them
            "command": "python benchmarks/ab_tell_instructions.py " + " ".join(
                "DIR" if arg in (str(args.baseline), str(args.after)) else arg for arg in sys.argv[1:]),
            "commits": {"before": args.baseline_commit, "after": commit}, "dim": args.dim, "tells": args.tells,
            "instructions_per_tell": runs, "medians": medians,
            "after_over_before": medians["after"] / medians["before"]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
