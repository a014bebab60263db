"""A run's figures with their 95% intervals over images: Wilson's for the success rate
(``scipy.stats.binomtest``); percentile bootstrap over the successful images for the median
queries and the mean distortions (``scipy.stats.bootstrap``, 2,000 resamples, fixed seed).  Fewer
than two successes: no interval.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

RESAMPLES = 2_000


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


def cell(value: float | None, interval: tuple[float, float] | None, digits: int) -> str:
    """A table's cell: the value and its interval, or "–" for none."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    return text if interval is None else f"{text} [{interval[0]:,.{digits}f}, {interval[1]:,.{digits}f}]"
