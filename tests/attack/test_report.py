"""The report's statistics and table: Wilson intervals, bootstrap intervals, one row per run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from zoadamm_worker.attack.report import bootstrap, read_rows, summarize_group, table, wilson


def test_wilson_matches_its_formula():
    z = 1.959963984540054
    for successes, total in [(0, 10), (8, 10), (20, 20), (37, 200)]:
        p = successes / total
        centre = (p + z * z / (2 * total)) / (1 + z * z / total)
        half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
        low, high = wilson(successes, total)
        assert low == pytest.approx(max(0.0, centre - half), abs=1e-9)
        assert high == pytest.approx(min(1.0, centre + half), abs=1e-9)


def test_bootstrap_intervals_hold_the_statistic_and_narrow_with_more_images():
    rng = np.random.default_rng(3)
    few, many = rng.exponential(100, 20).tolist(), rng.exponential(100, 400).tolist()
    low, high = bootstrap(few, np.median)
    assert low <= np.median(few) <= high
    wide, narrow = np.subtract(*bootstrap(few, np.mean)[::-1]), np.subtract(*bootstrap(many, np.mean)[::-1])
    assert narrow < wide
    assert bootstrap([5.0], np.mean) is None and bootstrap([5.0, 5.0], np.mean) == (5.0, 5.0)


def _row(method, norm, success, queries, linf=0.2, l2=3.0):
    return {"method": method, "norm": norm, "eps": 0.2 if norm == "inf" else 2.0, "budget": 1000,
            "success": success, "queries": queries, "linf": linf, "l2": l2}


def test_the_table_has_one_row_per_run_with_its_numbers(tmp_path):
    path = tmp_path / "records.jsonl"
    rows = [_row("art-square", "inf", True, q) for q in (10, 20, 30)] + [_row("art-square", "inf", False, 1000)]
    rows += [_row("art-zoo", "2", False, 1000)] * 2
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    groups = read_rows([path])
    square = summarize_group(groups[("art-square", "inf", 0.2, 1000)])
    assert square["rate"] == 0.75 and square["median_queries"] == 20 and square["mean_linf"] == pytest.approx(0.2)
    text = table(groups)
    assert "| art-square | ℓ∞ | 0.2 | 1,000 | 4 | 0.75 [0.30, 0.95] | 20 [10, 30] |" in text
    assert "| art-zoo | ℓ2 | 2 | 1,000 | 2 | 0.00 [0.00, 0.66] | – | – | – |" in text


def test_an_image_recorded_twice_under_the_same_settings_is_refused(tmp_path):
    """A second run appended to the same records would count its images twice in every figure."""
    path = tmp_path / "records.jsonl"
    rows = [{**_row("zo-adamm", "inf", True, 40), "index": i} for i in (1, 2)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows * 2))
    with pytest.raises(ValueError, match=r"image 1 is recorded twice for zo-adamm inf 0.2 1000 \(.*:1 and .*:3\)"):
        read_rows([path])
    other = tmp_path / "other.jsonl"  # the same images under other settings are another run
    other.write_text("".join(json.dumps({**row, "budget": 500}) + "\n" for row in rows))
    assert list(read_rows([other])) == [("zo-adamm", "inf", 0.2, 500)]
