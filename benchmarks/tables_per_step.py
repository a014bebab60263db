"""The tables of the per-step path's cuts (the tell's CPU, the script lane, the goal they are
measured against, pipeline over lean, shared steps) and of the feasible sets' cost, for
``tables.py``, which registers and renders them."""

from __future__ import annotations

import statistics

from table_cells import grouped, load, rows


def shared_ab(name: str) -> str:
    """Two joined workers over one, each side of an ``ab_shared_steps.py`` run, blocks in turns."""
    result = load(name)
    body = [[side, f"{result[side]['ratio_median']:.2f}×", ", ".join(f"{r:.2f}" for r in result[side]["ratios"])]
            for side in ("baseline", "this")]
    return rows(["", "two joined workers / one worker (median)", "per block"], body)


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
    body = [[f"d = {grouped(int(size))}", *(f"{run[size]:.2f}" for run in ratios.values()), goals.get(size, "")]
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


def tell_goal(names: tuple[str, ...] = SINCE_FILING) -> str:
    """Every pair of the runs against the code when the goal was set, and what their median
    ratio makes of the goal machine's figure."""
    body, ratios = [], []
    for name in names:
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
                   "l2-floor": "*the floor of its three passes*",
                   "l2-1-thread": "l2 ball, its passes on one thread",
                   "l2-floor-1-thread": "*the floor on one thread*"}


def projection() -> str:
    """The projection alone against the lean step it belongs to, wall time (from d = 2^18 on the
    passes share the cores), per set and size; a row a run did not measure is left out."""
    results = load("projection.json")
    header = ["set"]
    for r in results:
        header += [f"d = {grouped(r['d'])}: projection", f"share of the step ({r['none']['step_wall_ms']:.3g} ms)"]
    body = [[label, *(cell for r in results for cell in (f"{r[name]['project_wall_ms']:.3g} ms",
                                                         f"{r[name]['project_wall_share']:.1%}"))]
            for name, label in PROJECTION_ROWS.items() if all(name in r for r in results)]
    return rows(header, body)


BALL_PASSES = {"moments": "first pass: the moments (no division)", "evaluate": "evaluation at λ > 0",
               "evaluate-box": "evaluation with a box of d-vectors",
               "write": "write (float32, rounded toward the center) into another vector",
               "write-in-place": "the same write into a itself, as a step projects x"}


def ball_passes(name: str) -> str:
    """Each pass of the l2-ball projection at d = 2.8M, CPU ms: the kernel of ``--before``, this
    one, and the floor's pass of the same kind; and the plain ball's three passes together."""
    cpu = load(name)["cpu_ms"]
    floor = {"moments": cpu["floor-read"], "evaluate": cpu["floor-read"], "write": cpu["floor-write"],
             "write-in-place": cpu["floor-write"]}
    body = [[label, f"{cpu[f'before-{p}']:.2f}" if f"before-{p}" in cpu else "", f"{cpu[p]:.2f}",
             f"{floor[p]:.2f}" if p in floor else ""] for p, label in BALL_PASSES.items() if p in cpu]
    three = ("moments", "evaluate", "write-in-place")
    if all(f"before-{p}" in cpu for p in three):
        body.append(["l2 ball in a step, its three passes", f"{sum(cpu[f'before-{p}'] for p in three):.2f}",
                     f"{sum(cpu[p] for p in three):.2f}", f"{sum(floor[p] for p in three):.2f}"])
    return rows(["pass", "before", "now", "the floor's pass"], body)


def floor_share() -> str:
    """The l2 ball's projection and its floor against each client mode's step at the largest d.
    The lean step, the projection and the floor come from one run (``projection.json``, wall ms:
    the passes share the cores);
    each service mode's step is that lean step times the mode's ratio to lean with no set in the
    service-step run (``service_step_sets.json``): absolute times move with the machine's load
    from run to run, ratios taken in turns much less."""
    projected = max(load("projection.json"), key=lambda r: r["d"])
    steps = next(r for r in load("service_step_sets.json") if r["d"] == projected["d"] and r["constraint"] == "none")
    lean = projected["none"]["step_wall_ms"]
    floor, l2 = projected["l2-floor"]["project_wall_ms"], projected["l2"]["project_wall_ms"]
    body = []
    for mode in ("lean", "plain", "mirror", "pipeline"):
        ratio = steps[mode]["ms_per_step"] / steps["lean"]["ms_per_step"]
        step = lean * ratio
        body.append([mode, f"{ratio:.2f}", f"{step:.1f} ms", f"{0.05 * step:.1f} ms", f"{floor / step:.1%}",
                     f"{l2 / step:.1%}"])
    return rows([f"mode, d = {grouped(projected['d'])}", "step / lean step", "step, no set", "5% of it",
                 "the floor's share", "the l2 projection's share"], body)


def service_step_sets() -> str:
    """Each client mode's step with a set over the same mode without one."""
    body = [[f"{r['constraint']}, {grouped(r['d'])}", *(f"{r[mode]['ratio_to_no_set']:.3f}" for mode in
                                                   ("lean", "plain", "mirror", "pipeline"))]
            for r in load("service_step_sets.json") if r["constraint"] != "none"]
    return rows(["set, d", "lean", "plain", "mirror", "pipeline"], body)


def update() -> str:
    """AdaMM's update, numpy's path against the compiled one, alone and in the lean step."""
    parts = {"update": "the update alone", "none/step": "lean ZO step, no set", "l2/step": "lean ZO step, l2 ball"}
    body = []
    for r in load("update.json")["results"]:
        for part, label in parts.items():
            numpy_ms, compiled_ms = (r["cpu_ms"][f"{path}/{part}"] for path in ("numpy", "compiled"))
            digits = 3 if numpy_ms < 1 else 2 if numpy_ms < 10 else 1
            body.append([f"d = {grouped(r['d'])}: {label}", f"{numpy_ms:.{digits}f} ms", f"{compiled_ms:.{digits}f} ms",
                         f"{compiled_ms / numpy_ms:.2f}"])
    return rows(["CPU time, median", "numpy", "compiled", "compiled / numpy"], body)


def folded_moments() -> str:
    """The moments pass alone, its arithmetic alone, and folded into AdaMM's update or not."""
    passes = load("ball_passes.json")
    cpu = passes["cpu_ms"]
    labels = {"moments": "the moments pass, from memory",
              "moments-in-cache": "the same pass, its vectors in cache",
              "update": "AdaMM's compiled update (h written)",
              "update-then-moments": "the update, then the moments pass",
              "update-with-moments": "the two folded: each chunk's moments summed while it is in cache"}
    return rows([f"d = {grouped(passes['d'])}", "CPU ms, median"],
                [[label, f"{cpu[key]:.2f}"] for key, label in labels.items()])


def client_tell() -> str:
    """The client's CPU per synchronous tell, by transport."""
    result = load("client_tell.json")
    labels = {"lean": "the SDK over the workers' transport",
              "lean-before": f"the same, the transport of {result['before']}",
              "httpx": "the SDK over httpx's own transport", "floor": "a bare http.client request, JSON made by hand"}
    cpu = result["cpu_ms_per_tell"]
    return rows([f"d = {grouped(result['d'])}", "client CPU per tell", "× the bare request"],
                [[label, f"{cpu[key]:.3f} ms", f"{cpu[key] / cpu['floor']:.2f}"] for key, label in labels.items()
                 if key in cpu])


def modes_ab(name: str) -> str:
    """Each client mode's step over the lean step, per run, runs in the order taken."""
    ratios = load(name)["over_lean"]
    modes = list(next(iter(ratios.values())))
    return rows(["mode / lean", *ratios], [[mode, *(f"{run[mode]:.2f}" for run in ratios.values())] for mode in modes])
