"""The comparison from attack records: a table with 95% intervals over images (``intervals``),
the success-versus-queries curves of every run on one plot, and adversarial images beside their
originals."""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..records import RecordError, numbered_records
from .example_plot import plot_examples
from .intervals import cell, summarize_group
from .outputs import recorded_victim
from .record_check import record_flaw

KEY = ("method", "norm", "eps", "budget")
# the rest of what decides an image's attack (outputs.record_settings): runs that differ in one are
# two runs, whatever images they hold
SETTINGS = ("seed", "lr", "mu", "directions", "victim")
LINESTYLES = {"inf": "-", "2": "--"}
SWEEP_STYLES = (":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))  # a method's further runs in one norm


class Run(NamedTuple):
    """What a row of the table is: the settings its records share (None: not recorded)."""

    method: str
    norm: str
    eps: float
    budget: int
    seed: int | None = None
    lr: float | None = None
    mu: float | None = None
    directions: int | None = None
    victim: str | None = None  # its URL: runs against two victims are two runs


RECORD_FIELDS = (*KEY, "success", "queries", "linf", "l2")  # what the table and the curves read
EXAMPLE_FIELDS = ("index", "label", "predicted", "success", "original", "final")
# what else `attack` writes beside its records, recognised so that a glob over its folder works
OTHER_FILES = {"summary": "run summaries (the lines of attack --json)",
               "universal": "a universal perturbation's verdicts per test image (index, label, predicted, fooled)"}
Note = Callable[[str], None]
OTHER_IMAGES = ("the runs attacked different test images: their rows are not measured on the same images "
                "(give each run the same --offset and --images)")


def _kind(row: object) -> str:
    """"record", "summary", "universal", or "unknown": which of `attack`'s lines ``row`` is."""
    if not isinstance(row, dict):
        return "unknown"
    if "attacked" in row and ("success_rate" in row or "fooling_rate" in row):
        return "summary"
    if all(field in row for field in RECORD_FIELDS):
        return "record"
    if {"index", "label", "predicted", "fooled"} <= set(row):
        return "universal"
    return "unknown"


def _read_records(path: str | Path) -> tuple[list[tuple[int, dict]], str | None]:
    """(line number, record) of one file's per-image records, and what a file that holds one of
    `attack`'s other outputs, or nothing, holds instead (None for a records file).

    Raises:
        ValueError: a missing file, a line that is not JSON or not one of `attack`'s, or a file that mixes kinds."""
    if Path(path).is_dir() or not Path(path).exists():  # skipped, its run would be left out of the report
        what = "a folder" if Path(path).is_dir() else "no such file"
        raise ValueError(f"{path}: {what}; give records files of attack --records")
    try:  # a last line cut short (a run killed mid-write) is skipped, as the run that continues skips it
        numbered = numbered_records(path)
    except RecordError as error:  # a line that is no JSON, or a file that is not text
        raise ValueError(f"{error}: give records files of attack --records") from None
    rows, kinds = [], set()
    for number, row in numbered:
        kind = _kind(row)
        if kind == "unknown":
            raise ValueError(f"{path}:{number} is not a record of attack --records, which has "
                             f"{', '.join(RECORD_FIELDS)}")
        if kind == "record" and (flaw := record_flaw(row)):
            raise ValueError(f"{path}:{number}: {flaw}: give records of attack --records as it wrote them")
        kinds.add(kind)
        rows.append((number, row))
    if not rows:
        return [], "no records"
    if kinds != {"record"}:
        other = " and ".join(OTHER_FILES[kind] for kind in sorted(kinds - {"record"}))
        if "record" in kinds:
            raise ValueError(f"{path} holds per-image records and {other}: give the records of one run a file")
        return [], f"{other}, not per-image records"
    return rows, None


def _victims(rows: list[tuple[int, dict]]) -> dict[tuple, str]:
    """The one victim of each run's settings in a file, for its records written before the victim
    was recorded: a run continued since then is one run, not two."""
    seen: dict[tuple, set[str]] = {}
    for _, row in rows:
        if (victim := recorded_victim(row)) is not None and all(k in row for k in KEY):
            seen.setdefault((*(row[k] for k in KEY), *(row.get(k) for k in SETTINGS[:-1])), set()).add(victim)
    return {settings: victims.pop() for settings, victims in seen.items() if len(victims) == 1}


def read_rows(paths: list[str | Path], note: Note = lambda line: None) -> dict[Run, list[dict]]:
    """Records grouped by run (every setting that decides an image's attack: ``Run``), in order
    of appearance; ``note`` gets a line for each file skipped (see ``_read_records``).

    Raises:
        ValueError: no records in any file; a line that is no record (``_read_records``); an
            image recorded twice under the same settings (a run appended to a file that held an
            earlier one): counted twice, it would weigh double in every figure."""
    groups: dict[Run, list[dict]] = {}
    seen: dict[tuple, str] = {}
    skipped: list[tuple[str | Path, str]] = []
    for path in paths:
        rows, instead = _read_records(path)
        if instead is not None:
            skipped.append((path, instead))
        victims = _victims(rows)
        for number, row in rows:
            settings = (*(row[k] for k in KEY), *(row.get(k) for k in SETTINGS[:-1]))
            key = Run._make((*settings, recorded_victim(row) or victims.get(settings)))
            image = (*key, row.get("index"))
            if row.get("index") is not None and image in seen:
                raise ValueError(f"image {row['index']} is recorded twice for {_describe(key)} ({seen[image]} and "
                                 f"{path}:{number}): two runs that the report would count as one (a run appended "
                                 "to records that held another); report each apart")
            seen[image] = f"{path}:{number}"
            groups.setdefault(key, []).append(row)
    if not groups:
        raise ValueError("no per-image records to report: " + "; ".join(f"{path} holds {instead}"
                                                                        for path, instead in skipped))
    for path, instead in skipped:
        note(f"skipped {path}: it holds {instead}")
    return groups


def read_examples(paths: list[str | Path], note: Note = lambda line: None) -> list[tuple[str, dict]]:
    """(name, arrays) of each .npz of attack --examples, ℓ∞ runs first; a universal
    perturbation's .npz (δ alone) is skipped with a note.

    Raises:
        ValueError: a file that is no .npz of attack --examples, or files without a test image in common."""
    runs, held = [], []
    for path in sorted(paths, key=lambda p: (Path(p).stem.endswith("-l2"), str(p))):
        with open(path, "rb") as file:  # a missing file fails here, naming it
            if not zipfile.is_zipfile(file):  # np.load would take it for a pickle or an .npy
                raise ValueError(f"{path} is not an .npz of attack --examples: it is no zip of arrays")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (ValueError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"{path} is not an .npz of attack --examples ({error})") from None
        if set(arrays) == {"delta"}:
            note(f"skipped {path}: it holds a universal perturbation (delta), not per-image examples")
            continue
        missing = [name for name in EXAMPLE_FIELDS if name not in arrays]
        if missing:
            raise ValueError(f"{path} holds {', '.join(sorted(arrays)) or 'no arrays'}, not attack --examples "
                             f"(it lacks {', '.join(missing)})")
        runs.append((Path(path).stem, arrays))
        held.append(f"{path}: {_images(arrays['index'])}")
    if runs and not set.intersection(*(set(data["index"].tolist()) for _, data in runs)):
        raise ValueError(f"the example files have no test image in common ({'; '.join(held)}): give the "
                         "examples of runs on the same images")
    return runs


def _images(indices: np.ndarray) -> str:
    return (f"{len(indices)} images, {int(indices.min())} to {int(indices.max())}" if len(indices)
            else "no images")


def _order(item: tuple[Run, list]) -> tuple:
    """ℓ∞ before ℓ2; within a norm the black-box methods by name, white-box PGD last."""
    run = item[0]
    settings = [(value is None, value or 0) for value in run[len(KEY):]]  # None beside numbers: not comparable
    return run.norm != "inf", run.method == "pgd", run.method, run.eps, run.budget, settings


def _norm(norm: str) -> str:
    return "ℓ∞" if norm == "inf" else f"ℓ{norm}"


def number(value: float | None) -> str:
    """``value`` as short as it reads back exactly: 0.2 and 0.2000000001 are two labels, 2.0 is 2."""
    if value is None:
        return "none"
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _describe(run: Run) -> str:
    return f"{run.method} {run.norm} {number(run.eps)} {run.budget}"


def labels(runs: list[Run]) -> dict[Run, str]:
    """Each run's method, with the settings in which it differs from another run of the same
    method, norm, ε and budget (``zo-adamm (directions 40, mu 0.02)``): the rows of a sweep
    are told apart."""
    named = {}
    for run in runs:
        peers = [other for other in runs if other[:len(KEY)] == run[:len(KEY)]]
        differ = [name for name in SETTINGS if len({getattr(other, name) for other in peers}) > 1]
        shown = [f"{name} {value if isinstance(value := getattr(run, name), str) else number(value)}"
                 for name in differ]
        named[run] = run.method + (f" ({', '.join(shown)})" if differ else "")
    return named


def table(groups: dict[Run, list[dict]]) -> str:
    """The markdown table: one row per run."""
    lines = ["| method | norm | ε | budget | images | success rate | median queries | mean ℓ∞ | mean ℓ2 |",
             "|---|---|---|---|---|---|---|---|---|"]
    named = labels(list(groups))
    for run, rows in sorted(groups.items(), key=_order):
        s = summarize_group(rows)
        lines.append(f"| {named[run]} | {_norm(run.norm)} | {number(run.eps)} | {run.budget:,} | {s['images']} | "
                     f"{cell(s['rate'], s['rate_ci'], 2)} | {cell(s['median_queries'], s['median_queries_ci'], 0)} | "
                     f"{cell(s['mean_linf'], s['mean_linf_ci'], 3)} | {cell(s['mean_l2'], s['mean_l2_ci'], 2)} |")
    return "\n".join(lines) + "\n"


def curve_styles(groups: dict[Run, list[dict]]) -> dict[Run, tuple[str, object, str]]:
    """Each run's (colour, line style, legend label), in the legend's order.  A method's colour is
    the same whatever else the report holds, and its norm sets the line; a method's further runs
    (a sweep of ε or budgets) take the dashes it has not used, then a colour of their own, and a
    budget that differs between the report's runs is named: no two curves draw or read alike."""
    colors = iter(f"C{i}" for i in itertools.count())
    drawn: dict[str, tuple[str, set]] = {}  # label -> its colour now, the line styles used in it
    budgets = {run.budget for run in groups}
    named = labels(list(groups))
    styles: dict[Run, tuple[str, object, str]] = {}
    for run in sorted(groups, key=lambda run: (named[run], run.norm, _order((run, [])))):
        if named[run] not in drawn:  # (setdefault would take a colour for every run)
            drawn[named[run]] = (next(colors), set())
        color, used = drawn[named[run]]
        choices = (LINESTYLES.get(run.norm, ":"), *SWEEP_STYLES)
        linestyle = next((style for style in choices if style not in used), None)
        if linestyle is None:  # every dash taken in this colour: the next colour
            color, used = drawn[named[run]] = (next(colors), set())
            linestyle = choices[0]
        used.add(linestyle)
        kind = " (white-box: forward passes)" if run.method == "pgd" else ""
        budget = f" budget {run.budget:,}" if len(budgets) > 1 else ""
        styles[run] = color, linestyle, f"{named[run]}{kind} {_norm(run.norm)} ε={number(run.eps)}{budget}"
    return styles


def plot_curves(groups: dict[Run, list[dict]], path: Path) -> None:
    """Fraction of images fooled within Q queries, against Q (log scale), for every run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4.5))
    for run, (color, linestyle, label) in curve_styles(groups).items():
        rows = groups[run]
        queries = np.sort([row["queries"] for row in rows if row["success"]])
        grid = np.unique(np.concatenate([[1], queries, [run.budget]]))
        fooled = np.searchsorted(queries, grid, side="right") / len(rows)
        axes.step(grid, fooled, where="post", color=color, linestyle=linestyle, label=label)
    axes.set(xscale="log", xlabel="queries counted by the victim (per image)", ylabel="fraction of images fooled",
             ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside: the curves fill the axes
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(records: list[str], examples: list[str], out: str | Path,
                 note: Note = lambda line: None) -> list[Path]:
    """table.md and curves.png from ``records``, examples.png from ``examples``; returns the
    paths.  Every file is read before anything is written; ``note`` gets a line per file skipped."""
    groups = read_rows(list(records), note)
    runs = read_examples(list(examples), note)
    if examples and not runs:
        note("no per-image examples among --examples: examples.png is not written")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, text = [out / "table.md", out / "curves.png"], table(groups)
    if len({frozenset(row.get("index") for row in rows) for rows in groups.values()}) > 1:
        note(OTHER_IMAGES)  # a rate over other images is no comparison: said beside the table too
        text += f"\n{OTHER_IMAGES}\n"
    written[0].write_text(text)
    plot_curves(groups, written[1])
    if runs:
        written.append(out / "examples.png")
        plot_examples(runs, written[2])
    return written
