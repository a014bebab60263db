"""Commands write where the user can see it and where the checkout stays as it was: the
analysis of a results folder goes to runs/ (ignored by git) unless --out says otherwise."""

from __future__ import annotations

import shutil
import subprocess

from cli_support import ROOT, one_line, run


def test_analyze_writes_under_runs_and_leaves_the_results_folder_alone(tmp_path):
    results = tmp_path / "mini"
    results.mkdir()
    for name in ("fo-d1400-seed0.jsonl", "zo-d1400-q1-forward-vhat-seed0.jsonl"):  # committed runs
        shutil.copy(ROOT / "results" / "paper" / name, results / name)
    done = run("zoadamm-experiments", "analyze", "mini", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "report: runs/analysis-mini/report.md"
    assert "FO" in (tmp_path / "runs" / "analysis-mini" / "report.md").read_text()
    assert sorted(p.name for p in results.iterdir()) == ["fo-d1400-seed0.jsonl", "zo-d1400-q1-forward-vhat-seed0.jsonl"]


def test_the_output_folders_of_the_commands_are_ignored_by_git():
    """runs/ (the demo, `make report`, the grid and the analysis by default) is not tracked."""
    for path in ("runs/analysis-paper/report.md", "runs/smoke/fo-d1400-seed0-n640.jsonl", "runs/demo-1/table.md"):
        check = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert check.returncode == 0, f"{path} would show in git status"


def test_analyze_of_a_folder_that_is_not_there_says_so_and_makes_no_analysis_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder, says in (("nonexist", "nonexist does not exist: give the folder of a grid's record files"),
                         ("empty", "no run records with a finished epoch in empty")):
        line = one_line(run("zoadamm-experiments", "analyze", folder, cwd=tmp_path))
        assert line.startswith(f"zoadamm-experiments: {says}"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no runs/analysis-<folder>/ left behind
