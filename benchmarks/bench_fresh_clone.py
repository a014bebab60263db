"""A newcomer's path, timed: a fresh clone, then the README's commands as written.

    python benchmarks/bench_fresh_clone.py --json benchmarks/results/fresh_clone.json
    python benchmarks/bench_fresh_clone.py --test-args "-x -q tests/core"   # also `make test`, on a subset

Clones the repository's HEAD into a temporary folder and runs ``make setup`` and ``make demo``
there (each under ``nice``, so that the machine's other work is not slowed), then, with
``--test-args``, ``make test PYTEST_ARGS=...``.  Records the wall seconds of each command, the
load average before and after, and the demo's seconds per epoch from its ``summary.json``.
``make setup`` downloads nothing that pip already holds in its cache or local indexes: the time
is that of a machine where pip's sources are at hand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path) -> dict:
    """Run ``command`` (its output passes through) and return its wall seconds and the load."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(["nice", *command], cwd=cwd, check=True)
    return {"command": " ".join(command), "wall_s": round(time.perf_counter() - started, 1),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def demo_epochs(clone: Path) -> dict:
    (summary,) = (clone / "runs").glob("demo-*/summary.json")
    rows = json.loads(summary.read_text())["rows"]
    return {"fo_s_per_epoch": [round(r["fo_seconds"], 1) for r in rows],
            "zo_s_per_epoch": [round(r["zo_seconds"], 1) for r in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--test-args", help="also run `make test PYTEST_ARGS=...` with these arguments")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        clone = Path(folder) / "zoadamm"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        result: dict = {"commit": commit, "cpus": os.cpu_count(), "steps": {}}
        result["steps"]["make setup"] = timed(["make", "setup"], clone)
        result["steps"]["make demo"] = timed(["make", "demo"], clone) | demo_epochs(clone)
        if args.test_args:
            result["steps"]["make test"] = timed(["make", "test", f"PYTEST_ARGS={args.test_args}"], clone)
    text = json.dumps(result, indent=2)
    print(text, file=sys.stderr)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
