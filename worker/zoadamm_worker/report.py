"""FO-against-ZO tables and plots from per-epoch records (shared by the demo and the analysis).

The loss ratio and the paper's k = Loss_ZO / (Loss_FO * sqrt(d)) use the *train* loss (the mean
minibatch loss over the epoch, as the paper's Fig. 2 and 3 do); the tables and plots say so.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, MaxNLocator  # noqa: E402

from .records import UnmatchedRecords  # noqa: E402
from .report_records import FO_METHOD, ZO_METHODS, by_epoch, epoch_records, repeated_epochs, span  # noqa: E402

# the legends' names; a method this list lacks is shown as recorded
NAMES = {"adamm": "AdaMM (FO)", "zo-adamm": "ZO-AdaMM", "zo-sgd": "ZO-SGD", "zo-signsgd": "ZO-signSGD",
         "zo-adam": "ZO-Adam"}
UNDEFINED = "undefined"  # a ratio over an FO train loss of 0, or over a loss that is not a number


def comparison_rows(fo: list[dict], zo: list[dict]) -> list[dict]:
    """One row per epoch both runs reached, in their order, with the paper's k = Loss_ZO /
    (Loss_FO * sqrt(d)).  Matched by number: a file that a continued run (--resume) wrote may
    start after epoch 1; an epoch a file holds twice counts by its last record (``by_epoch``).
    The ratio and k are None where they are undefined (``loss_ratio``)."""
    fo_epochs, zo_epochs = by_epoch(fo), by_epoch(zo)
    rows = []
    for epoch in sorted(fo_epochs.keys() & zo_epochs.keys()):
        a, b = fo_epochs[epoch], zo_epochs[epoch]
        ratio = loss_ratio(b["train_loss"], a["train_loss"])
        rows.append({
            "epoch": epoch,
            "fo_train_loss": a["train_loss"], "fo_test_loss": a["test_loss"], "fo_test_accuracy": a["test_accuracy"],
            "zo_train_loss": b["train_loss"], "zo_test_loss": b["test_loss"], "zo_test_accuracy": b["test_accuracy"],
            "loss_ratio": ratio, "k": None if ratio is None else ratio / math.sqrt(b["d"]),
            "fo_seconds": a["seconds"], "zo_seconds": b["seconds"],
        })
    return rows


def loss_ratio(zo_loss: float, fo_loss: float) -> float | None:
    """ZO's train loss over FO's; None where no number is the ratio: an FO loss of 0 (a model
    that fits its minibatches exactly), or a loss that is not finite (a NaN train loss is an
    epoch reported by a continued run that took none of its steps)."""
    if fo_loss == 0 or not (math.isfinite(fo_loss) and math.isfinite(zo_loss)):
        return None
    return zo_loss / fo_loss


def _fixed(value: float | None, spec: str) -> str:
    return UNDEFINED if value is None else format(value, spec)


def markdown_table(rows: list[dict]) -> str:
    header = ("| epoch | FO train loss | FO test loss | FO test acc | ZO train loss | ZO test loss | ZO test acc "
              "| train loss ZO/FO | k (train loss) | FO s/epoch | ZO s/epoch |")
    lines = [header, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['epoch']} | {r['fo_train_loss']:.4f} | {r['fo_test_loss']:.4f} | {r['fo_test_accuracy']:.4f} "
            f"| {r['zo_train_loss']:.4f} | {r['zo_test_loss']:.4f} | {r['zo_test_accuracy']:.4f} "
            f"| {_fixed(r['loss_ratio'], '.2f')} | {_fixed(r['k'], '.4f')} | {r['fo_seconds']:.1f} "
            f"| {r['zo_seconds']:.1f} |"
        )
    return "\n".join(lines)


def plain_narrow_log(ax) -> None:
    """A log y axis within one decade labelled in plain numbers: 2 and 1.1, not 2×10⁰ and 1.1×10⁰."""
    low, high = ax.get_ylim()
    if ax.get_yscale() == "log" and 0 < low and high / low < 10:
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))


def comparison_title(zo: list[dict]) -> str:
    """d and q of a ZO run's records, and the training images where it used only the first N:
    a smoke run's table and plots must not pass for full MNIST's."""
    limit = zo[0].get("train_limit")
    return f"d = {zo[0]['d']:,}, q = {zo[0].get('directions', 1)}" + (f", {limit:,} training images" if limit else "")


def method_name(records: list[dict]) -> str:
    """The method of a run's records, as its legends name it."""
    method = records[0].get("method", "zo-adamm")
    return NAMES.get(method, method)


PLOTS = ("loss.png", "accuracy.png", "k.png")  # a pair's plots, in the order plot_comparison makes them


def plot_comparison(fo: list[dict], zo: list[dict], folder: str | Path, title: str) -> list[Path]:
    """loss.png, accuracy.png and k.png in ``folder``; returns their paths."""
    folder = Path(folder)
    rows = comparison_rows(fo, zo)
    epochs = [r["epoch"] for r in rows]
    fo_name, zo_name = method_name(fo), method_name(zo)
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for prefix, name in (("fo", fo_name), ("zo", zo_name)):
        ax.plot(epochs, [r[f"{prefix}_train_loss"] for r in rows], marker="o", label=f"{name} train")
        # hollow: a test curve on top of its train curve (as ZO's often is) still shows both
        ax.plot(epochs, [r[f"{prefix}_test_loss"] for r in rows], marker="s", linestyle="--", markerfacecolor="none",
                markersize=8, label=f"{name} test")
    losses = [r[f"{run}_{kind}_loss"] for r in rows for run in ("fo", "zo") for kind in ("train", "test")]
    # a log axis needs a positive loss to range over; losses of 0 alone are drawn on a linear one
    ax.set(xlabel="epoch", ylabel="cross-entropy", title=f"Loss — {title}",
           yscale="log" if any(loss > 0 for loss in losses) else "linear")
    paths.append(_save(fig, ax, folder / PLOTS[0]))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [r["fo_test_accuracy"] for r in rows], marker="o", label=fo_name)
    ax.plot(epochs, [r["zo_test_accuracy"] for r in rows], marker="s", label=zo_name)
    ax.set(xlabel="epoch", ylabel="test accuracy", title=f"Test accuracy — {title}", ylim=(0, 1))
    paths.append(_save(fig, ax, folder / PLOTS[1]))

    fig, ax = plt.subplots(figsize=(6, 4))
    # an undefined k is a gap in the line, as it is "undefined" in the table
    ax.plot(epochs, [math.nan if r["k"] is None else r["k"] for r in rows], marker="o",
            label="k = Loss_ZO / (Loss_FO·√d), train losses")
    ax.set(xlabel="epoch", ylabel="k (from the train loss)", title=f"The O(√d) slowdown — {title}")
    if rows and all(r["k"] is None for r in rows):  # no point to range the axes on: they would show made-up epochs
        ax.set(xlim=(min(epochs) - 0.5, max(epochs) + 0.5), yticks=[])
        ax.text(0.5, 0.5, f"k is {UNDEFINED} at every epoch\n(an FO train loss of 0, or one that is not a number)",
                transform=ax.transAxes, ha="center", va="center")
    paths.append(_save(fig, ax, folder / PLOTS[2]))
    return paths


TRAIN_LOSS_NOTE = ("The loss ratio and k = Loss_ZO / (Loss_FO·√d) come from the train loss: the mean "
                   "minibatch loss over each epoch.")


def pair_records(folder: str | Path) -> tuple[list[tuple[str, list[dict], list[dict]]], list[str]]:
    """(name, FO records, ZO records) for every ZO record file in ``folder`` (any ZO method:
    ``ZO_METHODS``) that an FO file was run like (``SAME``: compose's workers, the demo's
    fo/zo.jsonl) and that shares an epoch with it, and the lines a reader needs beside them: one
    for each ZO file left out (no FO file was run like it, naming the settings in which the
    nearest differs: a ratio against another model, start or data would pass for the method's;
    or none reached any of its epochs), for a compared file that holds an epoch more than once,
    and for a ZO file compared over fewer epochs than it holds.

    Raises:
        RecordError: a damaged line in a record file (``epoch_records``).
    """
    runs, written = {}, {}
    for path in sorted(Path(folder).glob("*.jsonl")):
        if records := epoch_records(path):
            runs[path.stem], written[path.stem] = records, path.stat().st_mtime
    fo_names = [name for name, r in runs.items() if r[0]["method"] == FO_METHOD]
    pairs, notes, said = [], [], set()
    for name, zo in runs.items():
        method = zo[0]["method"]
        if method == FO_METHOD:
            continue
        if method not in ZO_METHODS:
            notes.append(f"{name} left out: its method, {method}, is neither {FO_METHOD} (FO) nor a ZO method "
                         f"({', '.join(ZO_METHODS)})")
            continue
        alike = [fo for fo in fo_names if not _differences(runs[fo][0], zo[0])]
        if not alike:
            notes.append(f"{name} left out: {_nearest(name, zo, {fo: runs[fo] for fo in fo_names}, written)}")
            continue
        # several runs' records in one folder (compose's volume, run after run): the one that
        # reached the most of this run's epochs, the newest of those
        fo = max(alike, key=lambda fo: (len(_shared(runs[fo], zo)), written[fo]))
        epochs, shared = _epochs(zo), _shared(runs[fo], zo)
        if not shared:  # a table of no epochs compares nothing
            notes.append(f"{name} left out: it shares no epoch with {fo}, the FO record run like it (epochs "
                         f"{span(_epochs(runs[fo]))} there, {span(epochs)} here)")
            continue
        for compared in (fo, name):
            if compared not in said and (twice := repeated_epochs(runs[compared])):
                said.add(compared)
                notes.append(f"{compared} holds epoch{'s' * (len(twice) > 1)} {span(twice)} more than once (recorded "
                             "again by a later run): the last record of each epoch is compared")
        if len(shared) < len(epochs):
            notes.append(f"{name} is compared over the {len(shared)} of its {len(epochs)} epochs that {fo} reached")
        pairs.append((name, runs[fo], zo))
    return pairs, notes


# What an epoch's numbers depend on besides the method: the model, its initial weights, the data
# and the update the two methods share.  Not the epochs (an epoch's numbers are the same in a
# longer run: the table has the epochs both reached), nor the settings only ZO has (q, mu).
SAME = ("d", "seed", "train_limit", "batch_size", "normalize", "shuffle", "lr", "normalizer")
MNIST_TRAIN = 60_000  # a train_limit of this or more is the whole training set


def _epochs(records: list[dict]) -> set[int]:
    return {r["epoch"] for r in records}


def _shared(fo: list[dict], zo: list[dict]) -> set[int]:
    return _epochs(fo) & _epochs(zo)


def _setting(record: dict, key: str):
    value = record.get(key)
    if key == "train_limit":
        return MNIST_TRAIN if value is None else min(value, MNIST_TRAIN)
    return value


def _differences(fo: dict, zo: dict) -> list[str]:
    """The ``SAME`` settings of two runs' first records that differ, as "name (FO's there, ZO's here)"."""
    return [f"{key} ({_shown(_setting(fo, key))} there, {_shown(_setting(zo, key))} here)"
            for key in SAME if _setting(fo, key) != _setting(zo, key)]


def _shown(value) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _nearest(name: str, zo: list[dict], fo_runs: dict[str, list[dict]], written: dict[str, float]) -> str:
    """Why no FO record is compared with ZO run ``name``: the FO run that differs in the fewest
    settings, and in which."""
    if not fo_runs:
        return "the folder holds no FO record (zoadamm-worker mnist --method adamm) to compare it with"
    nearest = min(fo_runs, key=lambda fo: (len(_differences(fo_runs[fo][0], zo[0])), -written[fo]))
    return (f"no FO record was run with its settings; the nearest, {nearest}, differs in "
            f"{', '.join(_differences(fo_runs[nearest][0], zo[0]))}")


def methods_table(pairs: list[tuple[str, list[dict], list[dict]]]) -> str:
    """A row per ZO record at the last epoch it is compared over: the methods side by side."""
    lines = ["| ZO record | method | q | epoch | ZO train loss | FO train loss | train loss ZO/FO | k (train loss) "
             "| ZO test acc | FO test acc |", "|" + "---|" * 10]
    for name, fo, zo in pairs:
        r = comparison_rows(fo, zo)[-1]
        lines.append(f"| {name} | {zo[0]['method']} | {zo[0].get('directions', 1)} | {r['epoch']} "
                     f"| {r['zo_train_loss']:.4f} | {r['fo_train_loss']:.4f} | {_fixed(r['loss_ratio'], '.2f')} "
                     f"| {_fixed(r['k'], '.4f')} | {r['zo_test_accuracy']:.4f} | {r['fo_test_accuracy']:.4f} |")
    return "\n".join(lines)


def report_folder(folder: str | Path) -> tuple[str, list[Path], list[str]]:
    """Write ``table.md`` and the plots for every FO/ZO pair of record files in ``folder``.

    One pair gives loss.png, accuracy.png and k.png beside the records; with several ZO runs,
    table.md starts with a row per ZO run (``methods_table``) and each pair's plots go to a
    subfolder named after the ZO file (the plots of an earlier one-pair report beside the
    records are removed: they would read as those of all the runs).  Returns (the tables' text,
    the plot paths, the lines of ``pair_records``); table.md ends with those lines.

    Raises:
        FileNotFoundError: ``folder`` holds no FO record and ZO record of the same d and seed.
        UnmatchedRecords: it holds ZO records, but none that an FO record can be compared with.
        RecordError: a damaged line in a record file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder: give the folder of a run's records (runs/demo-<time>)")
    pairs, notes = pair_records(folder)
    if not pairs and notes:
        raise UnmatchedRecords(f"{folder} holds nothing to compare: " + "; ".join(notes))
    if not pairs:
        raise FileNotFoundError(f"{folder} holds no pair of FO and ZO record files (*.jsonl) of the same d and seed")
    sections, plots = [], []
    if len(pairs) > 1:
        for plot in PLOTS:
            (folder / plot).unlink(missing_ok=True)
        sections.append(f"# Each ZO record against its FO record, at the last epoch both reached\n\n"
                        f"{methods_table(pairs)}\n")
    for name, fo, zo in pairs:
        title = comparison_title(zo)
        target = folder if len(pairs) == 1 else folder / name
        target.mkdir(exist_ok=True)
        against = "ZO" if zo[0]["method"] == "zo-adamm" else method_name(zo)  # the paper's is plain "ZO"
        heading = f"# FO against {against}, {title}" + ("" if len(pairs) == 1 else f" ({name})")
        sections.append(f"{heading}\n\n{markdown_table(comparison_rows(fo, zo))}\n")
        plots += plot_comparison(fo, zo, target, title)
    text = "\n".join(sections) + f"\n{TRAIN_LOSS_NOTE}\n"
    (folder / "table.md").write_text(text + "".join(f"\n{note}\n" for note in notes))
    return text, plots, notes


def _save(fig, ax, path: Path) -> Path:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs
    plain_narrow_log(ax)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
