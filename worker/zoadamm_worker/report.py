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

from .records import UnmatchedRecords, read_records  # noqa: E402


def comparison_rows(fo: list[dict], zo: list[dict]) -> list[dict]:
    """One row per epoch both runs reached, with the paper's k = Loss_ZO / (Loss_FO * sqrt(d)).
    Matched by number: a file that a continued run (--resume) wrote may start after epoch 1."""
    rows = []
    by_epoch = {a["epoch"]: a for a in fo}
    for b in zo:
        if (a := by_epoch.get(b["epoch"])) is None:
            continue
        ratio = b["train_loss"] / a["train_loss"]
        rows.append({
            "epoch": a["epoch"],
            "fo_train_loss": a["train_loss"], "fo_test_loss": a["test_loss"], "fo_test_accuracy": a["test_accuracy"],
            "zo_train_loss": b["train_loss"], "zo_test_loss": b["test_loss"], "zo_test_accuracy": b["test_accuracy"],
            "loss_ratio": ratio, "k": ratio / math.sqrt(b["d"]),
            "fo_seconds": a["seconds"], "zo_seconds": b["seconds"],
        })
    return rows


def markdown_table(rows: list[dict]) -> str:
    header = ("| epoch | FO train loss | FO test loss | FO test acc | ZO train loss | ZO test loss | ZO test acc "
              "| train loss ZO/FO | k (train loss) | FO s/epoch | ZO s/epoch |")
    lines = [header, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['epoch']} | {r['fo_train_loss']:.4f} | {r['fo_test_loss']:.4f} | {r['fo_test_accuracy']:.4f} "
            f"| {r['zo_train_loss']:.4f} | {r['zo_test_loss']:.4f} | {r['zo_test_accuracy']:.4f} "
            f"| {r['loss_ratio']:.2f} | {r['k']:.4f} | {r['fo_seconds']:.1f} | {r['zo_seconds']:.1f} |"
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


def plot_comparison(fo: list[dict], zo: list[dict], folder: str | Path, title: str) -> list[Path]:
    """loss.png, accuracy.png and k.png in ``folder``; returns their paths."""
    folder = Path(folder)
    rows = comparison_rows(fo, zo)
    epochs = [r["epoch"] for r in rows]
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for prefix, name in (("fo", "AdaMM (FO)"), ("zo", "ZO-AdaMM")):
        ax.plot(epochs, [r[f"{prefix}_train_loss"] for r in rows], marker="o", label=f"{name} train")
        # hollow: a test curve on top of its train curve (as ZO's often is) still shows both
        ax.plot(epochs, [r[f"{prefix}_test_loss"] for r in rows], marker="s", linestyle="--", markerfacecolor="none",
                markersize=8, label=f"{name} test")
    ax.set(xlabel="epoch", ylabel="cross-entropy", title=f"Loss — {title}", yscale="log")
    paths.append(_save(fig, ax, folder / "loss.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [r["fo_test_accuracy"] for r in rows], marker="o", label="AdaMM (FO)")
    ax.plot(epochs, [r["zo_test_accuracy"] for r in rows], marker="s", label="ZO-AdaMM")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=f"Test accuracy — {title}", ylim=(0, 1))
    paths.append(_save(fig, ax, folder / "accuracy.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [r["k"] for r in rows], marker="o", label="k = Loss_ZO / (Loss_FO·√d), train losses")
    ax.set(xlabel="epoch", ylabel="k (from the train loss)", title=f"The O(√d) slowdown — {title}")
    paths.append(_save(fig, ax, folder / "k.png"))
    return paths


TRAIN_LOSS_NOTE = ("The loss ratio and k = Loss_ZO / (Loss_FO·√d) come from the train loss: the mean "
                   "minibatch loss over each epoch.")


def pair_records(folder: str | Path) -> tuple[list[tuple[str, list[dict], list[dict]]], list[str]]:
    """(name, FO records, ZO records) for every ZO record file in ``folder`` that an FO file was
    run like (``SAME``: compose's workers, the demo's fo/zo.jsonl), and one line for each ZO
    file that none was, naming the settings in which the nearest FO file differs (it is left
    out: a ratio against another model, start or data would pass for the method's)."""
    runs, written = {}, {}
    for path in sorted(Path(folder).glob("*.jsonl")):
        records = read_records(path)
        if records and "method" in records[0]:
            runs[path.stem], written[path.stem] = records, path.stat().st_mtime
    fo_names = [name for name, r in runs.items() if r[0]["method"] == "adamm"]
    pairs, notes = [], []
    for name, zo in runs.items():
        if zo[0]["method"] != "zo-adamm":
            continue
        alike = [fo for fo in fo_names if not _differences(runs[fo][0], zo[0])]
        if not alike:
            notes.append(f"{name} left out: {_nearest(name, zo, {fo: runs[fo] for fo in fo_names}, written)}")
            continue
        # several runs' records in one folder (compose's volume, run after run): the one that
        # reached the most of this run's epochs, the newest of those
        fo = max(alike, key=lambda fo: (len(_shared(runs[fo], zo)), written[fo]))
        if (shared := len(_shared(runs[fo], zo))) < len(zo):
            notes.append(f"{name} is compared over the {shared} of its {len(zo)} epochs that {fo} reached")
        pairs.append((name, runs[fo], zo))
    return pairs, notes


# What an epoch's numbers depend on besides the method: the model, its initial weights, the data
# and the update the two methods share.  Not the epochs (an epoch's numbers are the same in a
# longer run: the table has the epochs both reached), nor the settings only ZO has (q, mu).
SAME = ("d", "seed", "train_limit", "batch_size", "normalize", "shuffle", "lr", "normalizer")
MNIST_TRAIN = 60_000  # a train_limit of this or more is the whole training set


def _shared(fo: list[dict], zo: list[dict]) -> set[int]:
    return {r["epoch"] for r in fo} & {r["epoch"] for r in zo}


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


def report_folder(folder: str | Path) -> tuple[str, list[Path], list[str]]:
    """Write ``table.md`` and the plots for every FO/ZO pair of record files in ``folder``.

    One pair gives loss.png, accuracy.png and k.png beside the records; with several ZO runs,
    each pair's plots go to a subfolder named after the ZO file.  Returns (the tables' text, the
    plot paths, a line per ZO run left out or compared over fewer epochs: ``pair_records``);
    table.md ends with those lines.

    Raises:
        FileNotFoundError: ``folder`` holds no FO record and ZO record of the same d and seed.
        UnmatchedRecords: it holds ZO records, but no FO record run like any of them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder: give the folder of a run's records (runs/demo-<time>)")
    pairs, notes = pair_records(folder)
    if not pairs and notes:
        raise UnmatchedRecords(f"{folder} holds no FO record run like a ZO record, nothing to compare: "
                               + "; ".join(notes))
    if not pairs:
        raise FileNotFoundError(f"{folder} holds no pair of FO and ZO record files (*.jsonl) of the same d and seed")
    sections, plots = [], []
    for name, fo, zo in pairs:
        title = comparison_title(zo)
        target = folder if len(pairs) == 1 else folder / name
        target.mkdir(exist_ok=True)
        heading = f"# FO against ZO, {title}" + ("" if len(pairs) == 1 else f" ({name})")
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
