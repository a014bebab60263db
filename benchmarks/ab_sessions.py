"""``bench_sessions.py`` with this checkout's code and with another's, in turns: what a change to
the service did to its CPU per step and to steps/s, measured in one run.

``--baseline DIR`` holds another version's ``service`` and ``client`` packages (``git archive
COMMIT service client | tar -x -C DIR``); they go first on PYTHONPATH for its runs, the load
generator included, so both sides drive the service with their own SDK.  Each run is a
``bench_sessions.py`` process of its own (its own service and Redis); the sides alternate,
baseline first, ``--pairs`` times.  Medians per side, and each run, go to ``--json``.

    git archive BASE service client | tar -x -C /tmp/before
    python benchmarks/ab_sessions.py --baseline /tmp/before --baseline-commit BASE --pairs 3 \\
        --json benchmarks/results/sessions_tell_cpu_ab.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
KEPT = ("steps", "errors", "steps_per_s", "p50_ms", "p99_ms", "service_cpu_ms_per_step", "redis_cpu_ms_per_step",
        "generator_cpu_ms_per_step", "others_cores_busy", "loadavg_before", "metrics_steps_counted")


def run_side(baseline: str | None, bench_args: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if baseline is not None:
        env["PYTHONPATH"] = baseline
    out = subprocess.run([sys.executable, str(HERE / "bench_sessions.py"), *bench_args, "--json"], env=env,
                         capture_output=True, text=True, check=True, cwd=HERE).stdout
    result = json.loads(out)[0]
    return {k: result[k] for k in KEPT}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a folder with another version's service and client")
    parser.add_argument("--baseline-commit", required=True, help="the commit the baseline folder holds")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    baseline = os.pathsep.join(str(Path(args.baseline, part).resolve()) for part in ("service", "client"))
    bench_args = ["--sessions", str(args.sessions), "--steps", str(args.steps)]
    this = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                          cwd=HERE).stdout.strip()
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for pair in range(1, args.pairs + 1):
        for side, path in (("before", baseline), ("after", None)):
            runs[side].append(run_side(path, bench_args))
            last = runs[side][-1]
            print(f"pair {pair} {side:>6}: service CPU {last['service_cpu_ms_per_step']:.3f} ms/step, "
                  f"{last['steps_per_s']:,.0f} steps/s, p99 {last['p99_ms']:.0f} ms, errors {last['errors']}",
                  flush=True)
    medians = {side: {key: statistics.median(r[key] for r in rows)
                      for key in ("service_cpu_ms_per_step", "steps_per_s", "p99_ms", "redis_cpu_ms_per_step")}
               for side, rows in runs.items()}
    ratio = medians["after"]["service_cpu_ms_per_step"] / medians["before"]["service_cpu_ms_per_step"]
    print(f"medians: before {medians['before']}\n         after  {medians['after']}\nservice CPU after/before "
          f"{ratio:.3f}")
    if args.json:
        result = {"command": f"python benchmarks/ab_sessions.py --pairs {args.pairs} " + " ".join(bench_args),
                  "commits": {"before": args.baseline_commit, "after": this}, "medians": medians,
                  "service_cpu_after_over_before": ratio, "runs": runs, "cores": os.cpu_count()}
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
