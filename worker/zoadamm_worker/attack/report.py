"""The comparison from attack records: a table with 95% intervals over images, the
success-versus-queries curves of every run on one plot, and adversarial images beside their
originals.

Intervals: Wilson's for success rates (``scipy.stats.binomtest``); percentile bootstrap over
the successful images for the median queries and the mean distortions
(``scipy.stats.bootstrap``, 2,000 resamples, fixed seed).  Fewer than two successes: no interval.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import stats

RESAMPLES = 2_000
KEY = ("method", "norm", "eps", "budget")
LINESTYLES = {"inf": "-", "2": "--"}


def read_rows(paths: list[str | Path]) -> dict[tuple, list[dict]]:
    """Records grouped by run settings (method, norm, eps, budget), in order of appearance.

    Raises:
        ValueError: an image recorded twice under the same settings (a run appended to a file
            that held an earlier one, or runs of other --directions or --mu): counted twice, it
            would weigh double in every figure."""
    groups: dict[tuple, list[dict]] = {}
    seen: dict[tuple, str] = {}
    for path in paths:
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                key = tuple(row[k] for k in KEY)
                image = (*key, row.get("index"))
                if row.get("index") is not None and image in seen:
                    raise ValueError(f"image {row['index']} is recorded twice for {' '.join(map(str, key))} "
                                     f"({seen[image]} and {path}:{number}): two runs that the report would count as "
                                     "one (a run appended to records that held another, or runs that differ in a "
                                     "setting it does not group by, such as --directions); report each apart")
                seen[image] = f"{path}:{number}"
                groups.setdefault(key, []).append(row)
    return groups


def wilson(successes: int, total: int) -> tuple[float, float]:
    """95% Wilson interval of a success rate."""
    interval = stats.binomtest(successes, total).proportion_ci(0.95, method="wilson")
    return float(interval.low), float(interval.high)


def bootstrap(values: list[float], statistic) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of ``statistic`` (np.median, np.mean), or None below 2 values."""
    if len(values) < 2 or len(set(values)) < 2:
        return None if len(values) < 2 else (float(values[0]), float(values[0]))
    result = stats.bootstrap((np.asarray(values, dtype=float),), statistic, n_resamples=RESAMPLES,
                             confidence_level=0.95, method="percentile", random_state=np.random.default_rng(0))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize_group(rows: list[dict]) -> dict:
    """Rate, median queries and mean distortions of one run, each with its interval."""
    wins = [row for row in rows if row["success"]]
    queries = [row["queries"] for row in wins]
    summary = {"images": len(rows), "successes": len(wins), "rate": len(wins) / len(rows),
               "rate_ci": wilson(len(wins), len(rows))}
    for name, values, statistic in (("median_queries", queries, np.median),
                                    ("mean_linf", [r["linf"] for r in wins], np.mean),
                                    ("mean_l2", [r["l2"] for r in wins], np.mean)):
        summary[name] = float(statistic(values)) if values else None
        summary[f"{name}_ci"] = bootstrap(values, statistic) if values else None
    return summary


def _order(item: tuple[tuple, list]) -> tuple:
    """ℓ∞ before ℓ2; within a norm the black-box methods by name, white-box PGD last."""
    method, norm, eps, budget = item[0]
    return norm != "inf", method == "pgd", method, eps, budget


def _norm(norm: str) -> str:
    return "ℓ∞" if norm == "inf" else f"ℓ{norm}"


def _cell(value: float | None, interval: tuple[float, float] | None, digits: int) -> str:
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    return text if interval is None else f"{text} [{interval[0]:,.{digits}f}, {interval[1]:,.{digits}f}]"


def table(groups: dict[tuple, list[dict]]) -> str:
    """The markdown table: one row per run."""
    lines = ["| method | norm | ε | budget | images | success rate | median queries | mean ℓ∞ | mean ℓ2 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (method, norm, eps, budget), rows in sorted(groups.items(), key=_order):
        s = summarize_group(rows)
        lines.append(f"| {method} | {_norm(norm)} | {eps:g} | {budget:,} | {s['images']} | "
                     f"{_cell(s['rate'], s['rate_ci'], 2)} | {_cell(s['median_queries'], s['median_queries_ci'], 0)} | "
                     f"{_cell(s['mean_linf'], s['mean_linf_ci'], 3)} | {_cell(s['mean_l2'], s['mean_l2_ci'], 2)} |")
    return "\n".join(lines) + "\n"


def plot_curves(groups: dict[tuple, list[dict]], path: Path) -> None:
    """Fraction of images fooled within Q queries, against Q (log scale), for every run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4.5))
    colors: dict[str, str] = {}
    for (method, norm, eps, budget), rows in sorted(groups.items()):
        color = colors.setdefault(method, f"C{len(colors)}")
        queries = np.sort([row["queries"] for row in rows if row["success"]])
        grid = np.unique(np.concatenate([[1], queries, [budget]]))
        fooled = np.searchsorted(queries, grid, side="right") / len(rows)
        kind = " (white-box: forward passes)" if method == "pgd" else ""
        label = f"{method}{kind} {_norm(norm)} ε={eps:g}"
        axes.step(grid, fooled, where="post", color=color, linestyle=LINESTYLES.get(norm, ":"), label=label)
    axes.set_xscale("log")
    axes.set_xlabel("queries counted by the victim (per image)")
    axes.set_ylabel("fraction of images fooled")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside: the curves fill the axes
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_examples(paths: list[str | Path], path: Path, count: int = 6) -> None:
    """The first ``count`` images common to all example files: originals, then each run's result
    (ℓ∞ runs first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(Path(p).stem, np.load(p)) for p in sorted(paths, key=lambda p: (Path(p).stem.endswith("-l2"), str(p)))]
    common = sorted(set.intersection(*(set(data["index"].tolist()) for _, data in runs)))[:count]
    figure, axes = plt.subplots(len(common), len(runs) + 1, figsize=(1.6 * (len(runs) + 1), 1.7 * len(common)),
                                squeeze=False)
    for row, index in enumerate(common):
        for column in range(len(runs) + 1):
            name, data = runs[max(column - 1, 0)]
            at = int(np.flatnonzero(data["index"] == index)[0])
            image = data["original" if column == 0 else "final"][at].reshape(28, 28)
            ax = axes[row, column]
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title("original" if column == 0 else name, fontsize=8)
            if column == 0:
                ax.set_xlabel(f"#{index}: {data['label'][at]}", fontsize=8)
            else:
                verdict = f"→ {data['predicted'][at]}" if data["success"][at] else "not fooled"
                ax.set_xlabel(verdict, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(records: list[str], examples: list[str], out: str | Path) -> list[Path]:
    """table.md and curves.png from ``records``, examples.png from ``examples``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups = read_rows(list(records))
    written = [out / "table.md", out / "curves.png"]
    written[0].write_text(table(groups))
    plot_curves(groups, written[1])
    if examples:
        written.append(out / "examples.png")
        plot_examples(list(examples), written[2])
    return written
