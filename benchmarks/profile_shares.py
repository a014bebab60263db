"""Where the service's CPU goes, by kind of work, from a py-spy profile of the service process.

Record the service process of a ``bench_sessions.py`` run (its child ``zoadamm-service``) with
``py-spy record -p PID -r 200 -f raw -o PROFILE``, then::

    python benchmarks/profile_shares.py PROFILE --cpu-ms 0.78 --label after --json OUT.json

Each sample counts for the innermost frame that is not the event loop's own plumbing (asyncio,
contextlib): a socket write counts for whoever wrote (the Redis client, the HTTP server), a
timer for the code that set it.  Samples whose frames are all the loop's are uvloop's own C
code (polling, reading sockets, stepping tasks).  With ``--cpu-ms`` (the run's service CPU per
step) each share is also given in ms per step; ``--json`` adds the result under ``--label`` to
that file.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

KINDS = [
    ("telemetry (Prometheus, timing)", r"prometheus_client/|zoadamm_service/telemetry/"),
    ("rate limit (limits)", r"limits/"),
    ("Redis client (redis-py, its socket writes)",
     r"redis/|hiredis|zoadamm_service/store/(packing|fast_script|script_lane)"),
    ("validation (pydantic)", r"pydantic"),
    ("math (ZO-AdaMM, directions, numpy)", r"zoadamm/(optimizer|estimators|directions|adamm|methods|_validate)|numpy/"),
    ("frames and JSON (wire, json)", r"zoadamm/wire|json/"),
    ("HTTP server (uvicorn, httptools, its socket writes)", r"uvicorn/|httptools"),
    ("framework (Starlette, FastAPI routing and middleware)", r"starlette/|fastapi/|anyio/"),
    ("service: store (keys, budget, errors)", r"zoadamm_service/store/"),
    ("service: session rules (domain)", r"zoadamm_service/domain/"),
    ("service: api (pipeline, gates, tell, codec)", r"zoadamm_service/api/|zoadamm_service/tenants"),
]
LOOP = "event loop (uvloop, tasks, timers)"
PLUMBING = re.compile(r"asyncio/|contextlib|<frozen|functools|typing|enum\.py|weakref")


def kind_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        if "Runner.run" in frame:
            return LOOP
        if PLUMBING.search(frame):
            continue
        return next((name for name, pattern in KINDS if re.search(pattern, frame)), "other")
    return LOOP


def shares(profile: Path) -> tuple[dict[str, float], int]:
    counts: collections.Counter[str] = collections.Counter()
    for line in profile.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        counts[kind_of(stack.split(";"))] += int(n)
    total = sum(counts.values())
    return {kind: n / total for kind, n in counts.most_common()}, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path, help="py-spy raw output (-f raw)")
    parser.add_argument("--cpu-ms", type=float, help="the run's service CPU per step, ms")
    parser.add_argument("--label", default="profile")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    found, samples = shares(args.profile)
    for kind, share in found.items():
        ms = f"  {share * args.cpu_ms:.3f} ms" if args.cpu_ms else ""
        print(f"{kind:55s} {100 * share:5.1f}%{ms}")
    if args.json:
        results = json.loads(args.json.read_text()) if args.json.exists() else {}
        results[args.label] = {"samples": samples, "service_cpu_ms_per_step": args.cpu_ms, "shares": found}
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
