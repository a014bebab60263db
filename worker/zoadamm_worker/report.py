"""FO-against-ZO tables and plots from per-epoch records (shared by the demo and the analysis)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


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
              "| loss ZO/FO | k | FO s/epoch | ZO s/epoch |")
    lines = [header, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['epoch']} | {r['fo_train_loss']:.4f} | {r['fo_test_loss']:.4f} | {r['fo_test_accuracy']:.4f} "
            f"| {r['zo_train_loss']:.4f} | {r['zo_test_loss']:.4f} | {r['zo_test_accuracy']:.4f} "
            f"| {r['loss_ratio']:.2f} | {r['k']:.4f} | {r['fo_seconds']:.1f} | {r['zo_seconds']:.1f} |"
        )
    return "\n".join(lines)


def plot_comparison(fo: list[dict], zo: list[dict], folder: str | Path, title: str) -> list[Path]:
    """loss.png, accuracy.png and k.png in ``folder``; returns their paths."""
    folder = Path(folder)
    rows = comparison_rows(fo, zo)
    epochs = [r["epoch"] for r in rows]
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for prefix, name in (("fo", "AdaMM (FO)"), ("zo", "ZO-AdaMM")):
        ax.plot(epochs, [r[f"{prefix}_train_loss"] for r in rows], marker="o", label=f"{name} train")
        ax.plot(epochs, [r[f"{prefix}_test_loss"] for r in rows], marker="s", linestyle="--", label=f"{name} test")
    ax.set(xlabel="epoch", ylabel="cross-entropy", title=f"Loss — {title}", yscale="log")
    paths.append(_save(fig, ax, folder / "loss.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [r["fo_test_accuracy"] for r in rows], marker="o", label="AdaMM (FO)")
    ax.plot(epochs, [r["zo_test_accuracy"] for r in rows], marker="s", label="ZO-AdaMM")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=f"Test accuracy — {title}", ylim=(0, 1))
    paths.append(_save(fig, ax, folder / "accuracy.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [r["k"] for r in rows], marker="o", label="k = Loss_ZO / (Loss_FO·√d)")
    ax.set(xlabel="epoch", ylabel="k", title=f"The O(√d) slowdown — {title}")
    paths.append(_save(fig, ax, folder / "k.png"))
    return paths


def _save(fig, ax, path: Path) -> Path:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
