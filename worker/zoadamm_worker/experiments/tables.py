"""Markdown tables of the report: ours beside the paper's, at equal epochs and equal evaluations."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .records import Group, ratio_curves

EPOCH_COLUMNS = (1, 2, 5, 10, 20, 30, 40, 50)
BUDGET_EPOCHS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)  # x the cheapest group's evaluations per epoch


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _pm(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def paper_row(group: Group, paper: list[dict]) -> dict | None:
    """The paper's row for a group: FO at the same d, or ZO q=1 forward at the same d."""
    method, d, q, difference, *_ = group.key
    if method not in ("adamm", "zo-adamm") or (method == "zo-adamm" and (q != 1 or difference != "forward")):
        return None
    name = "AdaMM" if method == "adamm" else "ZO-AdaMM"
    return next((row for row in paper if row["optimizer"] == name and int(row["d"]) == d), None)


def status_table(groups: list[Group], planned: dict[str, int]) -> str:
    """What the folder holds: seeds and epochs reached per setting, against the epochs planned."""
    rows = []
    for g in groups:
        wanted = {planned[run.name] for run in g.runs if run.name in planned}
        rows.append([g.label, ", ".join(str(r.seed) for r in g.runs), ", ".join(map(str, g.epochs_reached)),
                     "/".join(map(str, sorted(wanted))) or "?", str(g.common_epochs)])
    return table(["setting", "seeds", "epochs reached (per seed)", "epochs planned", "rows below use epoch"],
                 rows)


def final_table(groups: list[Group], paper: list[dict]) -> str:
    """Our test accuracy at the last epoch every seed reached, beside the paper's at epoch 50."""
    rows = []
    for g in groups:
        acc, train, test = g.stat("test_accuracy"), g.stat("train_loss"), g.stat("test_loss")
        p = paper_row(g, paper)
        theirs = ([_pm(p["final_test_accuracy_mean"], p["final_test_accuracy_std"]),
                   f"{p['final_train_loss_mean']:.4f}", f"{int(p['runs'])} × {int(p['epochs'])}"]
                  if p else ["—", "—", "—"])
        rows.append([g.label, f"{acc[2]} × {g.common_epochs}", _pm(acc[0], acc[1]), f"{train[0]:.4f}",
                     f"{test[0]:.4f}", *theirs])
    return table(["setting", "ours: seeds × epochs", "ours: test accuracy", "ours: train loss", "ours: test loss",
                  "paper: test accuracy", "paper: train loss", "paper: seeds × epochs"], rows)


def cost_table(pairs: list[tuple[Group, Group]], paper: list[dict]) -> str:
    """What ZO costs against FO at each d: accuracy and loss ratios, k, time and evaluations."""
    rows = []
    for fo, zo in pairs:
        n = min(fo.common_epochs, zo.common_epochs)
        d = zo.key[1]
        fo_acc, zo_acc = fo.stat("test_accuracy", n)[0], zo.stat("test_accuracy", n)[0]
        ratio = zo.stat("train_loss", n)[0] / fo.stat("train_loss", n)[0]
        seconds = np.median(zo.curve("seconds")) / np.median(fo.curve("seconds"))
        evals = (zo.stat("evaluations", n)[0] / n) / (fo.stat("evaluations", n)[0] / n)
        pf, pz = paper_row(fo, paper), paper_row(zo, paper)
        theirs = "—"
        if pf and pz:
            p_ratio = pz["final_train_loss_mean"] / pf["final_train_loss_mean"]
            theirs = (f"acc ×{pf['final_test_accuracy_mean'] / pz['final_test_accuracy_mean']:.2f}, "
                      f"loss ×{p_ratio:.1f}, k {p_ratio / math.sqrt(d):.3f}, "
                      f"time ×{pz['epoch_seconds_mean'] / pf['epoch_seconds_mean']:.1f}")
        rows.append([f"d={d:,}, {zo.label.split(' d=')[0]}", str(n), f"{fo_acc:.4f} / {zo_acc:.4f}",
                     f"{fo_acc / zo_acc:.2f}", f"{ratio:.1f}", f"{ratio / math.sqrt(d):.4f}",
                     f"{seconds:.1f}", f"{evals:.0f}", theirs])
    return table(["pair", "at epoch", "test acc FO / ZO", "acc FO/ZO", "train loss ZO/FO", "k",
                  "median s/epoch ZO/FO", "evaluations ZO/FO", "paper at epoch 50"], rows)


def equal_epochs_table(groups: list[Group]) -> str:
    """Mean test accuracy at fixed epochs, over the seeds that got there (counted when not all)."""
    reached = max(max(g.epochs_reached) for g in groups)
    columns = [e for e in EPOCH_COLUMNS if e <= reached] or [reached]
    if reached not in columns:
        columns.append(reached)

    def cell(g: Group, epoch: int) -> str:
        if epoch > max(g.epochs_reached):
            return "—"
        mean, _, seeds = g.stat("test_accuracy", epoch)
        return f"{mean:.4f}" + ("" if seeds == len(g.runs) else f" ({seeds} of {len(g.runs)} seeds)")
    rows = [[g.label] + [cell(g, e) for e in columns] for g in groups]
    return table(["setting"] + [f"epoch {e}" for e in columns], rows)


def equal_evaluations_table(groups: list[Group]) -> str:
    """Mean test accuracy after a budget of function evaluations (the last epoch within it).

    Budgets are the cheapest group's evaluations after 1, 2, 5, 10, ... epochs, kept while at
    least two groups have spent them; a group that has not spent a budget gets '—'.  FO counts
    one evaluation per gradient.
    """
    curves = {id(g): (g.curve("evaluations").mean(0), g.curve("test_accuracy").mean(0)) for g in groups}
    per_epoch = min(evals[0] for evals, _ in curves.values())
    budgets = [per_epoch * e for e in BUDGET_EPOCHS]
    budgets = [b for b in budgets if sum(evals[-1] >= b for evals, _ in curves.values()) >= 2] or budgets[:1]
    rows = []
    for g in groups:
        evals, acc = curves[id(g)]
        cells = []
        for b in budgets:
            within = np.nonzero(evals <= b)[0]
            if evals[-1] < b:
                cells.append("—")
            elif not len(within):
                cells.append("< 1 epoch")
            else:
                cells.append(f"{acc[within[-1]]:.4f} (ep {within[-1] + 1})")
        rows.append([g.label, f"{evals[0]:,.0f}"] + cells)
    return table(["setting", "evaluations per epoch"] + [f"{b:,.0f} evals" for b in budgets], rows)


def time_table(groups: list[Group], paper: list[dict]) -> str:
    """Wall seconds per epoch (training steps + the test-set evaluation), beside the paper's.

    Medians and quartiles: on a shared machine a few epochs wait behind other work (or are
    paused), and a mean would carry those waits.
    """
    rows = []
    for g in groups:
        seconds = np.concatenate([run.column("seconds") for run in g.runs])
        low, median, high = np.percentile(seconds, [25, 50, 75])
        p = paper_row(g, paper)
        rows.append([g.label, f"{median:.1f}", f"{low:.1f} – {high:.1f}", f"{seconds.max():.1f}",
                     str(len(seconds)), f"{p['epoch_seconds_mean']:.1f}" if p else "—"])
    return table(["setting", "ours: median s/epoch", "quartiles", "slowest", "epochs timed",
                  "paper: mean s/epoch"], rows)


def target_table(groups: list[Group], target: float = 0.90) -> str:
    """When each setting first reaches ``target`` test accuracy: in epochs and in evaluations.

    'mean' is the mean over seeds at each of the group's common epochs; 'each seed' gives the
    first epoch of every seed on its own ('—': not within the epochs that seed has).
    """
    rows = []
    for g in groups:
        first = g.runs[0].records[0]
        per_step = first["evaluations"] / first["steps"]
        mean = g.curve("test_accuracy").mean(0)
        hits = np.nonzero(mean >= target)[0]
        if len(hits):
            epoch = int(hits[0]) + 1
            evaluations = g.curve("evaluations").mean(0)[epoch - 1]
            reached = f"epoch {epoch}", f"{evaluations:,.0f}"
        else:
            best = int(np.argmax(mean))
            reached = f"not in {g.common_epochs} (best {mean[best]:.4f}, epoch {best + 1})", "—"
        each = []
        for run in g.runs:
            seed_hits = np.nonzero(run.column("test_accuracy") >= target)[0]
            each.append(str(int(seed_hits[0]) + 1) if len(seed_hits) else "—")
        acc = g.stat("test_accuracy")
        rows.append([g.label, f"{per_step:.0f}", *reached, ", ".join(each),
                     f"{_pm(acc[0], acc[1])} (epoch {g.common_epochs})"])
    return table(["setting", "evaluations per step", f"mean reaches {target:.2f} at", "evaluations by then",
                  "each seed (epoch)", "final test accuracy"], rows)


def cosine_table(cosines: list[tuple[Group, dict[str, np.ndarray]]]) -> str:
    """Cosine similarity of FO and ZO weights per weight layer at the last common epoch."""
    layers = [name for name in cosines[0][1] if name.endswith(".weight")]
    rows = []
    for group, curves in cosines:
        last = [curves[layer][:, -1] for layer in layers]
        rows.append([group.label, str(curves[layers[0]].shape[1] - 1), str(len(last[0]))]
                    + [f"{c.mean():.2f} ± {c.std():.2f}" for c in last])
    return table(["setting", "epoch", "seeds"] + [layer.removesuffix(".weight") for layer in layers], rows)


def k_table(pairs: list[tuple[Group, Group]]) -> str:
    """The O(sqrt d) question at equal epochs: the ZO/FO train-loss ratio and k per d.

    If ZO's slowdown grows as sqrt(d), k stays about the same across d while the ratio grows;
    both are means over the seeds that ran FO and ZO.
    """
    curves = [(zo, ratio_curves(fo, zo, "train_loss").mean(0)) for fo, zo in pairs]
    reached = max(len(ratio) for _, ratio in curves)
    columns = [e for e in EPOCH_COLUMNS if e <= reached]
    rows = [[f"{zo.key[1]:,}", f"{math.sqrt(zo.key[1]):,.0f}"]
            + [f"{ratio[e - 1]:.1f} / {ratio[e - 1] / math.sqrt(zo.key[1]):.4f}" if e <= len(ratio) else "—"
               for e in columns] for zo, ratio in curves]
    return table(["d", "√d"] + [f"epoch {e}: ratio / k" for e in columns], rows)


def methods_table(groups: list[Group], diverged: Sequence[dict] = ()) -> str:
    """The ZO methods on one problem: each method's test accuracy at every lr of its grid, the
    best lr (highest mean over seeds, none of them diverged) in bold; the methods' rows sorted
    best first.  ``diverged``: the settings of the runs that diverged (``load_diverged``)."""
    if len({g.key[1:6] for g in groups if g.key[0] != "adamm"}) > 1:  # one cell per (method, lr): one setting
        raise ValueError("the methods table compares methods at one setting (d, q, difference, normalizer, "
                         "images): make one table per setting")
    by_method: dict[str, list[Group]] = {}
    for g in groups:
        if g.key[0] != "adamm":
            by_method.setdefault(g.key[0], []).append(g)
    broke: dict[tuple[str, float], list[int]] = {}
    for spec in diverged:
        broke.setdefault((spec["method"], spec["lr"]), []).append(spec["step"])
        by_method.setdefault(spec["method"], [])

    def score(g: Group) -> float:
        return -1.0 if (g.key[0], g.key[6]) in broke else g.stat("test_accuracy")[0]

    best = {method: max(gs, key=score) for method, gs in by_method.items() if gs}
    rows = []
    for method in sorted(by_method, key=lambda m: -score(best[m]) if m in best else 1.0):
        cells = {}
        for g in by_method[method]:
            mean, std, seeds = g.stat("test_accuracy")
            cell = f"lr {g.key[6]:g}: {_pm(mean, std)} ({seeds} × {g.common_epochs})"
            cells[g.key[6]] = f"**{cell}**" if g is best.get(method) and score(g) >= 0 else cell
        for (m, lr), steps in broke.items():
            if m == method:
                note = f"{len(steps)} diverged (step {', '.join(map(str, sorted(steps)))})"
                cells[lr] = f"{cells[lr]}, {note}" if lr in cells else f"lr {lr:g}: {note}"
        chosen = best.get(method)
        summary = ([f"{chosen.key[6]:g}", _pm(*chosen.stat("test_accuracy")[:2])]
                   if chosen is not None and score(chosen) >= 0 else ["—", "every lr diverged"])
        rows.append([method, *summary, "<br>".join(cells[lr] for lr in sorted(cells))])
    return table(["method", "best lr", "test accuracy at the best lr", "every lr (seeds × epochs)"], rows)
