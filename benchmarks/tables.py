"""The tables of docs/benchmarks.md, rendered from the JSON files in benchmarks/results/.

    python benchmarks/tables.py docs/benchmarks.md   # rewrite every table in place
    python benchmarks/tables.py                      # print them

Each table sits between two marker lines that name it and its results file; the prose around
them is written by hand.  ``tests/docs/test_benchmark_tables.py`` fails when a table in the doc
differs from what its file gives, so a number in a table is never retyped.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoadamm_service.settings_doc import splice

RESULTS = Path(__file__).resolve().parent / "results"
COMMAND = "python benchmarks/tables.py docs/benchmarks.md"


def load(name: str) -> Any:
    return json.loads((RESULTS / name).read_text())


def rows(header: list[str], body: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *body]
    return "".join("| " + " | ".join(cells) + " |\n" for cells in lines)


def _d(value: int) -> str:
    return f"{value:,}"


def service_step() -> str:
    modes = ("plain", "mirror", "pipeline")
    body = [[_d(r["d"]), f"{r['lean']['ms_per_step']:.2f} ms",
             *(f"{r[m]['ms_per_step']:.2f} ms ({r[m]['ratio_to_lean']:.2f}×)" for m in modes)]
            for r in load("service_step.json")]
    return rows(["d", "lean in-process", "plain (x in every answer)", "mirror",
                 "pipeline (mirror + tell in the background)"], body)


def step_bytes() -> str:
    body = [[_d(r["d"]), f"{r['plain']['wire_bytes_sent']:.0f}", f"{r['mirror']['wire_bytes_received']:.0f}",
             f"{r['plain']['wire_bytes_received']:,.0f}", f"{r['pipeline']['redis_bytes_written']:.0f}"]
            for r in load("service_step.json")]
    return rows(["d", "request body", "answer, mirror", "answer, plain", "sent to Redis"], body)


def _sessions(name: str) -> str:
    body = [[f"{r['service_workers']}", f"{r['steps_per_s']:,.0f}", f"{r['p50_ms']:.0f} ms", f"{r['p99_ms']:.0f} ms",
             f"{r['errors']} of {r['steps']:,}", f"{r['generator_cpu_ms_per_step']:.2f} ms",
             f"{r['service_cpu_ms_per_step']:.2f} ms", f"{r['redis_cpu_ms_per_step']:.2f} ms"]
            for r in load(name)]
    return rows(["service processes", "steps/s", "p50", "p99", "errors", "load generator CPU per step",
                 "service CPU per step", "Redis CPU per step"], body)


def many_clients() -> str:
    body = [[_d(r["sessions"]), f"{r['errors']} of {r['steps']:,}", f"{r['steps_per_s']:,.0f}",
             f"{r['p50_ms']:,.0f} ms", f"{r['p99_ms']:,.0f} ms", f"{r['service_cpu_ms_per_step']:.2f} ms",
             f"{r['redis_cpu_ms_per_step']:.2f} ms", f"{max(0.0, r['others_cores_busy']):.2f}"]
            for r in load("sessions_many_clients.json")]
    return rows(["sessions", "errors after the SDK's retries", "steps/s", "p50", "p99", "service CPU per step",
                 "Redis CPU per step", "cores other work took"], body)


def tell_split() -> str:
    runs = load("tell_split.json")["final"]
    parts = {"http": "HTTP: uvicorn, routing, the middleware, Prometheus",
             "validation": "validation: the frame, pydantic, the values' checks, the answer's encoding",
             "math": "math: direction, estimate, AdaMM update, checksum, journal and trace records",
             "redis": "Redis, client side: the rate limit's counter and the append script",
             "session": "session rules (locks, the replica cache)", "loop": "the event loop"}
    total = statistics.mean(r["service_cpu_us_per_step"] for r in runs)
    body = [[text, f"{statistics.mean(r['split_us_per_step'][part] for r in runs):.0f}",
             f"{statistics.mean(r['split_fraction'][part] for r in runs):.0%}"] for part, text in parts.items()]
    body.append(["**service total**", f"**{total:.0f}**", ""])
    body.append(["Redis server (its own process)",
                 f"{statistics.mean(r['redis_server_cpu_us_per_step'] for r in runs):.0f}", ""])
    return rows(["part", f"µs per tell (mean of {len(runs)} runs)", "share"], body)


def directions() -> str:
    result = load("directions.json")
    body = [[name, f"{r['median_ms']:.1f} ms", f"{r['min_ms']:.1f} ms", f"{r['ratio_to_numpy']:.2f}"]
            for name, r in result["results"].items()]
    return rows([f"d = {_d(result['dim'])}, float32", "median", "min", "× numpy"], body)


def zo_forward() -> str:
    columns = ("grouped", "loop", "FO fwd+bwd")
    body = [[_d(r["d"]), str(r["q"]), *(f"{r[c][0]:.1f}" if r["q"] == 1 or c != "FO fwd+bwd" else "" for c in columns)]
            for r in load("zo_forward.json")]
    return rows(["d", "q", "grouped", "plain loop", "FO forward + backward"], body)


def epoch_time() -> str:
    settings = load("epoch_time.json")
    evaluations = [("1 gradient" if s["method"] == "adamm" else str(s["evaluations_per_step"])) for s in settings]
    return rows(["", *(s["setting"] for s in settings)],
                [["evaluations per step", *evaluations],
                 ["seconds per epoch", *(f"{s['median_s']:.2f}" for s in settings)],
                 ["× FO", *(f"{s['vs_fo']:.2f}" for s in settings)]])


def dashboard() -> str:
    result = load("dashboard.json")
    written = result["bytes_to_redis_per_step"]
    body = [[mode, f"{r['median_ms']:.2f} ms", f"{r['ratio']:.2f}", f"{written[mode]:.0f} B" if mode in written else "",
             f"{result['redis_commands_per_s'][mode]:,.0f}"] for mode, r in result["step_time"].items()]
    return rows(["", "step (tell round trip)", "× no trace", "written to Redis per step", "Redis commands/s"], body)


def big_reads(name: str) -> str:
    body = []
    for i, pair in enumerate(load(name)["pairs"], 1):
        for code, run in pair.items():
            alone, loaded = run["healthz_ms"]["alone"], run["healthz_ms"]["with_readers"]
            answers = run["in_process"]["answer_cpu_ms"].values()
            body.append([f"{code}, pair {i}", f"{run['service_cpu_ms_per_whole_read']:.0f} ms",
                         f"{run['in_process']['median_whole_read_cpu_ms']:.0f} ms",
                         f"{max(a['max'] for a in answers):.1f} ms", f"{run['largest_answer_bytes']:,} B",
                         f"{alone['p50_ms']:.1f} / {alone['max_ms']:.1f} ms",
                         f"{loaded['p50_ms']:.1f} / {loaded['p95_ms']:.1f} / {loaded['max_ms']:.1f} ms"])
    return rows(["", "service CPU per whole read", "in process, without HTTP", "slowest answer in process",
                 "largest answer", "/healthz alone: p50 / slowest",
                 "/healthz with 6 readers: p50 / p95 / slowest"], body)


def shared_steps(name: str = "shared_steps.json") -> str:
    modes = load(name)["modes"]
    names = {"single": "one worker (mirror + pipeline)", "join-1": "one `--join` worker",
             "join-2": "two `--join` workers"}
    body = [[names.get(mode, mode), f"{m['ms_per_step']:.1f}", f"{m['vs_single']:.2f}×",
             " + ".join(f"{m['cpu_ms_per_step'][k]:.1f}" for k in ("workers", "service", "redis")),
             f"{m['floor_ms_per_step']:.1f}" if "floor_ms_per_step" in m else ""] for mode, m in modes.items()]
    return rows(["", "ms per step", "× one worker", "CPU ms per step: workers + service + Redis",
                 "the floor that CPU puts on 2 cores"], body)


def shared_ab(name: str) -> str:
    """Two joined workers over one, each side of an ``ab_shared_steps.py`` run, blocks in turns."""
    result = load(name)
    body = [[side, f"{result[side]['ratio_median']:.2f}×", ", ".join(f"{r:.2f}" for r in result[side]["ratios"])]
            for side in ("baseline", "this")]
    return rows(["", "two joined workers / one worker (median)", "per block"], body)


def fresh_clone() -> str:
    steps = load("fresh_clone.json")["steps"]
    body = [[f"`{name}`", f"{step['wall_s']:.0f} s", f"{step['load_before']:.1f} → {step['load_after']:.1f}",
             _epochs(step)] for name, step in steps.items()]
    return rows(["command", "wall time", "load average, before → after", "median seconds per epoch"], body)


def _epochs(step: dict) -> str:
    if "fo_s_per_epoch" not in step:
        return ""
    fo, zo = (statistics.median(step[f"{m}_s_per_epoch"]) for m in ("fo", "zo"))
    return f"FO {fo:.1f} s, ZO {zo:.1f} s"


def tell_cpu() -> str:
    """The tell's cost before and after, three measures of one change, and the stack's floor."""
    sessions = load("sessions_tell_ab.json")
    instructions = load("tell_instructions_ab.json")
    before, after = (sessions["medians"][side] for side in ("before", "after"))
    counted = instructions["medians"]
    body = [
        ["service CPU per step, 64 sessions (median of pairs)", f"{before['service_cpu_ms_per_step']:.3f} ms",
         f"{after['service_cpu_ms_per_step']:.3f} ms",
         f"{after['service_cpu_ms_per_step'] / before['service_cpu_ms_per_step']:.2f}", "sessions_tell_ab.json"],
        ["steps/s", f"{before['steps_per_s']:.0f}", f"{after['steps_per_s']:.0f}",
         f"{after['steps_per_s'] / before['steps_per_s']:.2f}", "sessions_tell_ab.json"],
        ["Redis CPU per step", f"{before['redis_cpu_ms_per_step']:.3f} ms", f"{after['redis_cpu_ms_per_step']:.3f} ms",
         f"{after['redis_cpu_ms_per_step'] / before['redis_cpu_ms_per_step']:.2f}", "sessions_tell_ab.json"],
        ["the app's instructions per tell (in process, callgrind)", f"{counted['before']:,.0f}",
         f"{counted['after']:,.0f}", f"{counted['after'] / counted['before']:.3f}", "tell_instructions_ab.json"],
    ]
    return rows(["", f"before ({sessions['commits']['before']})", f"after ({sessions['commits']['after']})",
                 "after / before", "benchmarks/results/"], body)


def tell_floor() -> str:
    """The service's CPU per tell against the floor of its stack, each run and the medians."""
    result = load("tell_floor.json")
    runs, medians = result["runs"], result["median_cpu_ms_per_tell"]
    body = [[str(i + 1), f"{floor['cpu_ms_per_tell']:.3f} ms", f"{service['cpu_ms_per_tell']:.3f} ms",
             f"{service['cpu_ms_per_tell'] / floor['cpu_ms_per_tell']:.2f}",
             f"{floor['steps_per_s']:,.0f}, {service['steps_per_s']:,.0f}"]
            for i, (floor, service) in enumerate(zip(runs["floor"], runs["service"], strict=True))]
    body.append(["median", f"{medians['floor']:.3f} ms", f"{medians['service']:.3f} ms",
                 f"{medians['service'] / medians['floor']:.2f}", ""])
    return rows(["pair", "floor app: CPU per tell", "service: CPU per tell", "service / floor",
                 "tells/s: floor, service"], body)


def pipeline_ab(name: str = "service_step_tell_ab2.json") -> str:
    """Pipeline over lean per run, runs in the order taken, against the issue's goals."""
    ratios = load(name)["pipeline_over_lean"]
    sizes = list(next(iter(ratios.values())))
    goals = {"1400": "≤ 1.3", "2806751": "≤ 1.15"}
    body = [[f"d = {_d(int(size))}", *(f"{run[size]:.2f}" for run in ratios.values()), goals.get(size, "")]
            for size in sizes]
    return rows(["", *ratios, "goal"], body)


GOAL_MACHINE_MS = (0.67, 0.75)  # the tell's service CPU per step when its goal was set, on that machine


def tell_lane() -> str:
    """The script lane's A/B, and the code now against the code when the tell's goal was set."""
    lane, since = load("sessions_lane_ab.json"), load("sessions_since_filing_ab.json")
    counted = load("tell_instructions_lane_ab.json")["medians"]
    body = []
    for label, result in ((f"the lane ({lane['commits']['before']} → {lane['commits']['after']})", lane),
                          (f"since the goal was set ({since['commits']['before']} → {since['commits']['after']})",
                           since)):
        before, after = (result["medians"][side] for side in ("before", "after"))
        for what, key, unit in (("service CPU per step", "service_cpu_ms_per_step", " ms"),
                                ("steps/s", "steps_per_s", ""), ("Redis CPU per step", "redis_cpu_ms_per_step", " ms")):
            digits = 3 if unit else 0
            body.append([f"{label}: {what}", f"{before[key]:,.{digits}f}{unit}", f"{after[key]:,.{digits}f}{unit}",
                         f"{after[key] / before[key]:.2f}"])
    body.append(["the lane: the app's instructions per in-process tell", f"{counted['before']:,.0f}",
                 f"{counted['after']:,.0f}", f"{counted['after'] / counted['before']:.3f}"])
    return rows(["", "before", "after", "after / before"], body)


def tell_profile() -> str:
    """Where the service's CPU per step goes, by kind of work, in each profile taken (ms per step)."""
    profiles = load("tell_cpu_profile.json")
    kinds = list(next(reversed(profiles.values()))["shares"])
    body = [[kind, *(f"{p['shares'].get(kind, 0.0) * p['service_cpu_ms_per_step']:.3f}" for p in profiles.values())]
            for kind in kinds]
    body.append(["**service CPU per step**", *(f"**{p['service_cpu_ms_per_step']:.3f}**" for p in profiles.values())])
    return rows(["kind of work (py-spy samples)", *profiles], body)


SINCE_FILING = ("sessions_since_filing_ab.json", "sessions_since_filing_ab_5pairs.json",
                "sessions_since_filing_ab_5pairs_quiet.json")


def tell_goal() -> str:
    """Every pair of the runs against the code when the goal was set, and what their median
    ratio makes of the goal machine's figure."""
    body, ratios = [], []
    for name in SINCE_FILING:
        runs = load(name)["runs"]
        for i, (before, after) in enumerate(zip(runs["before"], runs["after"], strict=True)):
            ratio = after["service_cpu_ms_per_step"] / before["service_cpu_ms_per_step"]
            ratios.append(ratio)
            busy = max(before["others_cores_busy"], after["others_cores_busy"])
            body.append([f"{name}, pair {i + 1}", f"{before['service_cpu_ms_per_step']:.3f} ms",
                         f"{after['service_cpu_ms_per_step']:.3f} ms", f"{ratio:.3f}", f"{busy:.2f}"])
    ratio = statistics.median(ratios)
    low, high = (ms * ratio for ms in GOAL_MACHINE_MS)
    body.append([f"median of the {len(ratios)} pairs", "", "", f"**{ratio:.3f}**", ""])
    body.append([f"× the goal machine's {GOAL_MACHINE_MS[0]}–{GOAL_MACHINE_MS[1]} ms (goal ≤ 0.45 ms)", "", "",
                 f"**{low:.2f}–{high:.2f} ms**", ""])
    return rows(["run", "before: service CPU per step", "after", "after / before",
                 "other work, cores busy (the busier side)"], body)


PROJECTION_ROWS = {"box": "box, vector bounds (x0 ± 2 lr)", "box-scalar": "box, scalar bounds [−1, 1]",
                   "l2": "l2 ball (radius lr √d / 2), AdaMM's metric", "box+l2": "box ∩ l2 ball",
                   "l2-floor": "*the floor of any exact l2 projection*"}


def projection() -> str:
    """The projection alone against the lean step it belongs to, CPU time, per set and size."""
    results = load("projection.json")
    header = ["set"]
    for r in results:
        header += [f"d = {_d(r['d'])}: projection", f"share of the step ({r['none']['step_cpu_ms']:.3g} ms)"]
    body = [[label, *(cell for r in results for cell in (f"{r[name]['project_cpu_ms']:.3g} ms",
                                                         f"{r[name]['project_cpu_share']:.1%}"))]
            for name, label in PROJECTION_ROWS.items()]
    return rows(header, body)


def service_step_sets() -> str:
    """Each client mode's step with a set over the same mode without one."""
    body = [[f"{r['constraint']}, {_d(r['d'])}", *(f"{r[mode]['ratio_to_no_set']:.3f}" for mode in
                                                   ("lean", "plain", "mirror", "pipeline"))]
            for r in load("service_step_sets.json") if r["constraint"] != "none"]
    return rows(["set, d", "lean", "plain", "mirror", "pipeline"], body)


def headline() -> str:
    """The README's short form: the figures that moved most recently, each from its results."""
    since = load("sessions_since_filing_ab.json")
    crowd = max(load("sessions_many_clients.json"), key=lambda r: r["sessions"])
    pipelined = load("service_step_lane_ab.json")
    big = next(r for r in load("projection.json") if r["d"] > 1_000_000)
    counted = load("tell_instructions_lane_ab.json")["medians"]
    before, after = (since["medians"][side]["service_cpu_ms_per_step"] for side in ("before", "after"))
    ratios = {label: run[str(big["d"])] for label, run in pipelined["pipeline_over_lean"].items()}
    before_label = next(label for label in ratios if label.startswith("before"))
    body = [
        ["service CPU per tell, 64 sessions: the code when its goal was set → now (same run)",
         f"{before:.2f} → {after:.2f} ms ({after / before:.2f}×)", "sessions_since_filing_ab.json"],
        ["the service's instructions per tell, in process (before → after the script lane)",
         f"{counted['before']:,.0f} → {counted['after']:,.0f}", "tell_instructions_lane_ab.json"],
        [f"{_d(crowd['sessions'])} sessions at once: errors, p99",
         f"{crowd['errors']} of {crowd['steps']:,}, {crowd['p99_ms']:,.0f} ms", "sessions_many_clients.json"],
        [f"pipelined step over the in-process one, d = {_d(big['d'])} (before → after the script lane)",
         f"{ratios.pop(before_label):.2f} → " + ", ".join(f"{r:.2f}" for r in ratios.values()),
         "service_step_lane_ab.json"],
        [f"l2-ball projection, d = {_d(big['d'])}: share of the step (the floor of any exact one)",
         f"{big['l2']['project_cpu_share']:.0%} ({big['l2-floor']['project_cpu_share']:.1%})", "projection.json"],
    ]
    return rows(["what", "measured", "benchmarks/results/"], body)


# name: (results file, renderer); the file is named in the table's marker lines
TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    "service_step": ("service_step.json", service_step),
    "step_bytes": ("service_step.json", step_bytes),
    "sessions": ("sessions.json", lambda: _sessions("sessions.json")),
    "sessions_200_steps": ("sessions_200_steps.json", lambda: _sessions("sessions_200_steps.json")),
    "sessions_raw": ("sessions_raw.json", lambda: _sessions("sessions_raw.json")),
    "many_clients": ("sessions_many_clients.json", many_clients),
    "tell_split": ("tell_split.json", tell_split),
    "directions": ("directions.json", directions),
    "zo_forward": ("zo_forward.json", zo_forward),
    "epoch_time": ("epoch_time.json", epoch_time),
    "dashboard": ("dashboard.json", dashboard),
    "shared_steps": ("shared_steps.json", shared_steps),
    "shared_steps_batch1024": ("shared_steps_batch1024.json", lambda: shared_steps("shared_steps_batch1024.json")),
    "fresh_clone": ("fresh_clone.json", fresh_clone),
    "headline": ("*.json", headline),
    "tell_cpu": ("sessions_tell_ab.json", tell_cpu),
    "tell_floor": ("tell_floor.json", tell_floor),
    "tell_lane": ("sessions_lane_ab.json", tell_lane),
    "pipeline_lane": ("service_step_lane_ab.json", lambda: pipeline_ab("service_step_lane_ab.json")),
    "shared_steps_lane": ("shared_steps_lane.json", lambda: shared_steps("shared_steps_lane.json")),
    "projection": ("projection.json", projection),
    "service_step_sets": ("service_step_sets.json", service_step_sets),
    "tell_profile": ("tell_cpu_profile.json", tell_profile),
    "tell_goal": ("sessions_since_filing_ab*.json", tell_goal),
    "shared_ab_lane": ("ab_shared_steps_lane.json", lambda: shared_ab("ab_shared_steps_lane.json")),
    "pipeline_ab": ("service_step_tell_ab2.json", pipeline_ab),
    "big_reads_trace_once": ("big_reads_trace_once.json", lambda: big_reads("big_reads_trace_once.json")),
}


def markers(name: str) -> tuple[str, str]:
    file = TABLES[name][0]
    return (f"<!-- table {name}: rendered from benchmarks/results/{file} by `{COMMAND}` -->",
            f"<!-- end of table {name} -->")


def render(document: str) -> str:
    """``document`` with every table whose markers it holds rendered again."""
    for name, (_, renderer) in TABLES.items():
        begin, end = markers(name)
        if begin in document:
            document = splice(document, renderer(), begin, end)
    return document


def main(argv: list[str]) -> int:
    if not argv:
        for name, (file, renderer) in TABLES.items():
            sys.stdout.write(f"{name} ({file}):\n{renderer()}\n")
        return 0
    path = Path(argv[0])
    path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
