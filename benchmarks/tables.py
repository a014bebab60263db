"""The tables of docs/benchmarks.md, docs/constraints.md and the README, rendered from the JSON
files in benchmarks/results/ (the per-step path's and the feasible sets' renderers are in
``tables_per_step.py``; this file registers every table).

    python benchmarks/tables.py docs/benchmarks.md   # rewrite every table of one document in place
    python benchmarks/tables.py                      # print them

Each table sits between two marker lines that name it and its results file; the prose around
them is written by hand.  ``tests/docs/test_benchmark_tables.py`` fails when a table in the doc
differs from what its file gives, so a number in a table is never retyped.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from table_cells import grouped, load, rows
from tables_load import largest_session, metrics_flood
from tables_per_step import (
    ball_passes,
    client_tell,
    floor_share,
    folded_moments,
    modes_ab,
    pipeline_ab,
    projection,
    service_step_sets,
    shared_ab,
    tell_cpu,
    tell_floor,
    tell_goal,
    tell_lane,
    tell_profile,
    update,
)

from zoadamm_service.settings_doc import splice

COMMAND = "python benchmarks/tables.py docs/benchmarks.md"


def service_step() -> str:
    modes = ("plain", "mirror", "pipeline")
    body = [[grouped(r["d"]), f"{r['lean']['ms_per_step']:.2f} ms",
             *(f"{r[m]['ms_per_step']:.2f} ms ({r[m]['ratio_to_lean']:.2f}×)" for m in modes)]
            for r in load("service_step.json")]
    return rows(["d", "lean in-process", "plain (x in every answer)", "mirror",
                 "pipeline (mirror + tell in the background)"], body)


def step_bytes() -> str:
    body = [[grouped(r["d"]), f"{r['plain']['wire_bytes_sent']:.0f}", f"{r['mirror']['wire_bytes_received']:.0f}",
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
    body = [[grouped(r["sessions"]), f"{r['errors']} of {r['steps']:,}", f"{r['steps_per_s']:,.0f}",
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
    return rows([f"d = {grouped(result['dim'])}, float32", "median", "min", "× numpy"], body)


def zo_forward() -> str:
    columns = ("grouped", "loop", "FO fwd+bwd")
    body = [[grouped(r["d"]), str(r["q"]),
             *(f"{r[c][0]:.1f}" if r["q"] == 1 or c != "FO fwd+bwd" else "" for c in columns)]
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


def headline() -> str:
    """The README's short form: the figures a user of the service meets, each from its results."""
    since = load("sessions_goal_compiled_ab.json")
    crowd = max(load("sessions_many_clients.json"), key=lambda r: r["sessions"])
    pipelined = load("service_step_update_ab.json")
    big = next(r for r in load("projection.json") if r["d"] > 1_000_000)
    told = load("client_tell.json")["cpu_ms_per_tell"]
    suite = load("fresh_clone.json")["steps"]["make test"]["wall_s"]
    largest = load("largest_session.json")["pairs"]
    waits = {side: statistics.median(pair[side]["healthz_wait_ms"] for pair in largest) for side in ("before", "after")}
    history = load("tell_instructions_history_ab.json")
    flood = load("metrics_flood.json")
    flooded = {side: statistics.median(pair[side]["under_scrapes"]["p50_ms"] for pair in flood["pairs"])
               for side in ("before", "after")}
    before, after = (since["medians"][side]["service_cpu_ms_per_step"] for side in ("before", "after"))
    ratios = {label: run[str(big["d"])] for label, run in pipelined["pipeline_over_lean"].items()}
    before_label = next(label for label in ratios if label.startswith("before"))
    body = [
        ["service CPU per tell, 64 sessions: the code when its goal was set → now (same run)",
         f"{before:.2f} → {after:.2f} ms ({after / before:.2f}×)", "sessions_goal_compiled_ab.json"],
        ["the SDK's tell over the workers' transport, client CPU (before → after, same run; d = 1,400)",
         f"{told['lean-before']:.3f} → {told['lean']:.3f} ms", "client_tell.json"],
        [f"{grouped(crowd['sessions'])} sessions at once: errors, p99",
         f"{crowd['errors']} of {crowd['steps']:,}, {crowd['p99_ms']:,.0f} ms", "sessions_many_clients.json"],
        [f"pipelined step over the in-process one, d = {grouped(big['d'])} (before → after the compiled update)",
         f"{ratios.pop(before_label):.2f} → " + ", ".join(f"{r:.2f}" for r in ratios.values()),
         "service_step_update_ab.json"],
        [f"l2-ball projection, d = {grouped(big['d'])}: share of the step (the floor of its 3 passes)",
         f"{big['l2']['project_wall_share']:.0%} ({big['l2-floor']['project_wall_share']:.1%})", "projection.json"],
        ["another call's wait while a session at the work limit (d = 2²¹, q = 4) is told (before → after, same run)",
         f"{waits['before']:.0f} → {waits['after']:.0f} ms", "largest_session.json"],
        [f"a session's GET while {flood['scrapers']} clients scrape /metrics without pause, median (before → after)",
         f"{flooded['before']:.0f} → {flooded['after']:.1f} ms", "metrics_flood.json"],
        ["`make test` from a fresh clone (one process more than the cores)", f"{suite:.0f} s", "fresh_clone.json"],
        ["instructions per tell, before → after a replica's copy is checked by its history too (same run)",
         f"{history['medians']['before']:,.0f} → {history['medians']['after']:,.0f} "
         f"({history['after_over_before']:.3f}×)", "tell_instructions_history_ab.json"],
    ]
    return rows(["what", "measured", "benchmarks/results/"], body)


def line_count() -> str:
    counts = load("line_count.json")["counts"]
    parts = [*counts[0]["parts"], "total"]

    def cell(count: dict, part: str) -> str:
        lines = count["total"] if part == "total" else count["parts"][part]
        return f"{lines['lines']:,} ({lines['code']:,})"

    return rows(["part: lines (code alone)", *(f"`{c['commit']}`" for c in counts)],
                [[part, *(cell(c, part) for c in counts)] for part in parts])


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
    "ball_passes": ("ball_passes.json", lambda: ball_passes("ball_passes.json")),
    "floor_share": ("projection.json and service_step_sets.json", floor_share),
    "ball_passes_c7af070": ("ball_passes_c7af070.json", lambda: ball_passes("ball_passes_c7af070.json")),
    "tell_profile": ("tell_cpu_profile.json", tell_profile),
    "tell_goal": ("sessions_since_filing_ab*.json", tell_goal),
    "shared_ab_lane": ("ab_shared_steps_lane.json", lambda: shared_ab("ab_shared_steps_lane.json")),
    "pipeline_ab": ("service_step_tell_ab2.json", pipeline_ab),
    "big_reads_trace_once": ("big_reads_trace_once.json", lambda: big_reads("big_reads_trace_once.json")),
    "update": ("update.json", update),
    "largest_session": ("largest_session.json", largest_session),
    "metrics_flood": ("metrics_flood.json", metrics_flood),
    "client_tell": ("client_tell.json", client_tell),
    "modes_transport": ("service_step_transport_ab.json", lambda: modes_ab("service_step_transport_ab.json")),
    "folded_moments": ("ball_passes.json", folded_moments),
    "pipeline_update": ("service_step_update_ab.json", lambda: pipeline_ab("service_step_update_ab.json")),
    "line_count": ("line_count.json", line_count),
    "tell_goal_compiled": ("sessions_goal_compiled_ab.json", lambda: tell_goal(("sessions_goal_compiled_ab.json",))),
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
