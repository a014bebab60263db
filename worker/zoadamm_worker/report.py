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

from .records import read_records  # noqa: E402


def comparison_rows(fo: list[dict], zo: list[dict]) -> list[dict]:
    """One row per epoch both runs reached, with the paper's k = Loss_ZO / (Loss_FO * sqrt(d))."""
    rows = []
    for a, b in zip(fo, zo, strict=False):  # the epochs both reached
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


def pair_records(folder: str | Path) -> list[tuple[str, list[dict], list[dict]]]:
    """(name, FO records, ZO records) for every ZO record file in ``folder``, each against the FO
    file of the same d and initial-weights seed (compose's workers, the demo's fo/zo.jsonl)."""
    runs, written = {}, {}
    for path in sorted(Path(folder).glob("*.jsonl")):
        records = read_records(path)
        if records and "method" in records[0]:
            runs[path.stem], written[path.stem] = records, path.stat().st_mtime
    fo_names = [name for name, r in runs.items() if r[0]["method"] == "adamm"]
    pairs = []
    for name, zo in runs.items():
        same = [fo for fo in fo_names if (runs[fo][0]["d"], runs[fo][0]["seed"]) == (zo[0]["d"], zo[0]["seed"])]
        if zo[0]["method"] != "zo-adamm" or not same:
            continue
        # several runs' records in one folder (compose's volume, run after run): the FO run set up
        # most like this one, the newest of those
        fo = max(same, key=lambda fo: (sum(runs[fo][0].get(k) == zo[0].get(k) for k in _LIKE), written[fo]))
        pairs.append((name, runs[fo], zo))
    return pairs


_LIKE = ("epochs", "train_limit", "batch_size", "normalize", "shuffle", "scale")  # what makes two runs comparable


def report_folder(folder: str | Path) -> tuple[str, list[Path]]:
    """Write ``table.md`` and the plots for every FO/ZO pair of record files in ``folder``.

    One pair gives loss.png, accuracy.png and k.png beside the records; with several ZO runs,
    each pair's plots go to a subfolder named after the ZO file.  Returns (the table text, the plot paths).

    Raises:
        FileNotFoundError: ``folder`` holds no FO record and ZO record of the same d and seed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder: give the folder of a run's records (runs/demo-<time>)")
    pairs = pair_records(folder)
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
    (folder / "table.md").write_text(text)
    return text, plots


def _save(fig, ax, path: Path) -> Path:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs
    plain_narrow_log(ax)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
