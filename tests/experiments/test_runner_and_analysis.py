"""The smoke grid through a real service process (the ``zoadamm-service`` script, embedded store):
record files, an interruption and a truncated run resumed, and the analysis of the records.

MNIST: the real 60k/10k set, training on its first 640 images (5 steps per epoch).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from zoadamm_worker.demo import local_service
from zoadamm_worker.experiments import cli
from zoadamm_worker.experiments.analysis import analyze
from zoadamm_worker.experiments.grid import build_grid, run_name
from zoadamm_worker.experiments.records import group_runs, load_runs
from zoadamm_worker.experiments.runner import run_grid, run_lock, weights_path
from zoadamm_worker.experiments.tables import status_table
from zoadamm_worker.mnist import load_mnist
from zoadamm_worker.model import initial_parameters
from zoadamm_worker.records import read_records

FIGURES = ("fig2_ratios.png", "fig3_k.png", "fig4_cosine.png", "fig5_tsne.png", "fig6_cosine_all.png",
           "filters.png", "cost_d1400_n640.png", "cosine_by_setting.png")


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Run the smoke grid as a user whose grid was interrupted, then killed mid-run, would."""
    out = tmp_path_factory.mktemp("results")
    runs = build_grid("smoke")
    names = [run_name(spec) for spec in runs]
    data = load_mnist()
    with local_service() as url:
        first = run_grid(runs, out, "smoke", service=url, data=data, progress=False, stop_after_runs=4,
                         log=lambda line: None)
        snapshot = {name: (out / f"{name}.jsonl").read_bytes() for name in names[:4]}
        # run 2 killed after its first epoch: one record, weights still inline, no npz yet
        cut = out / f"{names[1]}.jsonl"
        row = read_records(cut)[0]
        with np.load(weights_path(cut)) as archive:
            row["weights"] = archive["weights"][1].tolist()
        cut.write_text(json.dumps(row) + "\n")
        weights_path(cut).unlink()
        lines = []
        with run_lock(out, names[5]) as held:  # another runner is training the last run
            assert held
            second = run_grid(runs, out, "smoke", service=url, data=data, progress=False, log=lines.append)
        locked = [line for line in lines if "another process" in line]
        lines = []
        third = run_grid(runs, out, "smoke", service=url, data=data, progress=False, log=lines.append)
        fourth = run_grid(runs, out, "smoke", service=url, data=data, progress=False, log=lambda line: None)
    return dict(out=out, runs=runs, names=names, first=first, second=second, third=third, fourth=fourth,
                lines=lines, locked=locked, snapshot=snapshot)


def test_an_interrupted_and_a_killed_grid_continue_without_redoing_complete_runs(grid):
    names, out = grid["names"], grid["out"]
    assert grid["first"] == names[:4]
    assert grid["second"] == [names[1], names[4]]  # the cut run again, then the rest but the locked one
    assert grid["locked"] == [f"run 6/6 {names[5]}: running in another process, skipped"]
    assert grid["third"] == [names[5]] and grid["fourth"] == []
    assert sum("complete, skipped" in line for line in grid["lines"]) == 5
    for name in (names[0], names[2], names[3]):
        assert (out / f"{name}.jsonl").read_bytes() == grid["snapshot"][name]  # not redone
    (aside,) = (out / "aside").glob(f"{names[1]}.*.jsonl")
    assert len(read_records(aside)) == 1  # the cut record is kept, not deleted
    # each run trained says on what: runs of the same seed agree bit for bit there
    made = {path.stem: json.loads(path.read_text()) for path in (out / "environments").glob("*.json")}
    assert sorted(made) == sorted(names)
    assert all(m["torch"] and m["numpy"] and m["cpu"] and m["cores"] >= 1 and "commit" in m for m in made.values())
    manifest = json.loads((out / "grid-smoke.json").read_text())
    assert [(r["name"], r["epochs_recorded"], r["complete"]) for r in manifest["runs"]] == [
        (name, 2, True) for name in names]


def test_each_run_records_every_epoch_and_its_weights(grid):
    for spec, name in zip(grid["runs"], grid["names"], strict=True):
        records = read_records(grid["out"] / f"{name}.jsonl")
        assert [r["epoch"] for r in records] == [1, 2]
        assert all({"train_loss", "test_loss", "test_accuracy", "seconds", "evaluations"} <= set(r)
                   and "weights" not in r for r in records)
        per_step = 1 if spec.method == "adamm" else 1 + spec.directions
        assert [r["evaluations"] for r in records] == [5 * per_step, 10 * per_step]
        with np.load(weights_path(grid["out"] / f"{name}.jsonl")) as archive:
            assert archive["weights"].shape == (3, 1400) and list(archive["epochs"]) == [0, 1, 2]
            np.testing.assert_array_equal(archive["weights"][0], initial_parameters(spec.scale, spec.seed))
            assert not np.array_equal(archive["weights"][2], archive["weights"][0])


def test_the_analysis_draws_every_figure_and_puts_the_paper_beside_our_numbers(grid, tmp_path):
    report_path = analyze(grid["out"], tmp_path)
    for name in FIGURES:
        assert (tmp_path / name).stat().st_size > 5000, name
    report = report_path.read_text()
    assert "0.9747 ± 0.0029" in report and "0.8054 ± 0.0239" in report  # the paper's d = 1,400 rows
    fo = [read_records(grid["out"] / f"fo-d1400-seed{s}-n640.jsonl")[-1]["test_accuracy"] for s in (0, 1)]
    assert f"| FO AdaMM d=1,400 (first 640 images) | 2 × 2 | {np.mean(fo):.4f} ± {np.std(fo):.4f} |" in report
    assert all(f"]({name})" in report for name in FIGURES)
    assert "| ZO q=2 forward d=1,400 (first 640 images) | 0, 1 | 2, 2 | 2 | 2 |" in report
    minima = report[report.index("## Do FO and ZO reach similar minima?"):].splitlines()
    assert minima[2] == "| setting | epoch | seeds | conv1 | conv2 | fc1 | fc2 | fc3 |"
    label, epoch, seeds, *cells = [cell.strip() for cell in minima[4].strip("|").split("|")]
    assert (label, epoch, seeds) == ("ZO q=1 forward d=1,400 (first 640 images)", "2", "2")
    assert all(-1 <= float(cell.split(" ± ")[0]) <= 1 for cell in cells) and len(cells) == 5


def test_a_partial_run_is_reported_with_the_epochs_it_reached(grid, tmp_path):
    folder = tmp_path / "partial"
    shutil.copytree(grid["out"], folder)
    cut = folder / f"{grid['names'][4]}.jsonl"  # ZO q=1 seed 1
    cut.write_text(cut.read_text().splitlines()[0] + "\n")
    groups = group_runs(load_runs(folder))
    text = status_table(groups, {name: 2 for name in grid["names"]})
    assert "| ZO q=1 forward d=1,400 (first 640 images) | 0, 1 | 2, 1 | 2 | 1 |" in text


@pytest.mark.parametrize("damage", ["{}", "null", "weights"])
def test_a_run_whose_files_are_damaged_is_not_complete_and_analyze_names_the_line(grid, tmp_path, damage):
    """A record line {} or null (the line count unchanged) raised KeyError or TypeError before
    anything trained, and analyze a KeyError; a truncated weights file counted as complete, and
    analyze then died on a bad zip."""
    from zoadamm_worker.experiments.runner import is_complete

    folder = tmp_path / "damaged"
    shutil.copytree(grid["out"], folder)
    spec = grid["runs"][0]
    path = folder / f"{grid['names'][0]}.jsonl"
    assert is_complete(path, spec)
    if damage == "weights":
        weights = weights_path(path)
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        lines = path.read_text().splitlines()
        path.write_text("\n".join([*lines[:-1], damage]) + "\n")
        with pytest.raises(ValueError, match=f"{path.name}:{len(lines)} is no epoch record of a run \\(it lacks "):
            load_runs(folder)
    assert not is_complete(path, spec)


def test_a_run_another_runner_finished_while_this_one_took_the_lock_is_skipped(grid, tmp_path, monkeypatch):
    """The check came before the lock and was not made again: the run the other runner had just
    finished was moved aside as incomplete and trained again."""
    import contextlib

    from zoadamm_worker.experiments import runner

    folder = tmp_path / "race"
    shutil.copytree(grid["out"], folder)
    name, spec = grid["names"][0], grid["runs"][0]
    finished = {p.name: p.read_bytes() for p in folder.glob(f"{name}.*")}
    for file in finished:
        (folder / file).unlink()
    real = runner.run_lock

    @contextlib.contextmanager
    def the_other_finishes_first(out, run):
        for file, data in finished.items():  # the other runner writes its last epoch and weights
            (folder / file).write_bytes(data)
        with real(out, run) as mine:
            yield mine

    monkeypatch.setattr(runner, "run_lock", the_other_finishes_first)
    lines: list[str] = []
    run_grid([spec], folder, "smoke", service="http://127.0.0.1:9", progress=False, log=lines.append)
    assert lines == [f"run 1/1 {name}: complete, skipped"], lines
    assert not (folder / "aside").exists() or not list((folder / "aside").glob(f"{name}*"))


def test_a_grid_asked_for_fewer_epochs_keeps_the_longer_records_and_one_asked_for_more_says_why(grid, tmp_path):
    """A rerun with --epochs 1 moved every complete 2-epoch record aside as "incomplete" and wrote
    1-epoch ones in their place; one with --epochs 3 called the complete records incomplete."""
    import dataclasses

    folder = tmp_path / "epochs"
    shutil.copytree(grid["out"], folder)
    before = {p.name: p.read_bytes() for p in folder.glob("*.jsonl")}
    set_aside = sorted((folder / "aside").iterdir())  # the fixture's cut run
    lines: list[str] = []
    shorter = [dataclasses.replace(spec, epochs=1) for spec in grid["runs"]]
    assert run_grid(shorter, folder, "smoke", service="http://127.0.0.1:9", progress=False, log=lines.append) == []
    assert lines == [f"run {k}/6 {name}: complete, skipped" for k, name in enumerate(grid["names"], 1)], lines
    assert {p.name: p.read_bytes() for p in folder.glob("*.jsonl")} == before
    assert sorted((folder / "aside").iterdir()) == set_aside
    lines.clear()
    longer = dataclasses.replace(grid["runs"][0], epochs=3)
    with local_service() as url:
        run_grid([longer], folder, "smoke", service=url, data=load_mnist(), progress=False, log=lines.append)
    assert f"run 1/1 {grid['names'][0]}: a record of 2 of the 3 epochs asked (trained again from epoch 1), " \
           "moved to " in lines[0], lines
    assert len(read_records(folder / f"{grid['names'][0]}.jsonl")) == 3


@pytest.mark.parametrize("damage, said", [
    ("no test_loss", "is no epoch record of a run (it lacks test_loss)"),
    ("epoch twice", "is epoch 2 where epoch 3 comes next: a run's records are its epochs 1, 2, ... in order"),
    ("bad line inside", "is no JSON, and whole records follow it"),
    ("seed copied", "are runs of one setting with one seed (0): keep one of them"),
    ("bad weights", ".weights.npz is no weights file of a run (ValueError): it is damaged"),
    ("bad manifest", "grid-smoke.json is no grid manifest (KeyError"),
    ("bad marker", ".diverged.json is no marker of a diverged run (it lacks step, method, scale, seed, lr)"),
])
def test_analyze_names_what_it_cannot_read_and_never_counts_a_record_twice(grid, tmp_path, damage, said):
    """Each of these raised KeyError or ValueError from inside analyze, or was counted silently: a
    copied file as a second run of its seed (mean ± std over a seed twice), a line written twice
    as a third epoch, a garbled line as the end of its file (the epochs after it dropped)."""
    from zoadamm_worker.records import RecordError

    folder = tmp_path / "odd"
    shutil.copytree(grid["out"], folder)
    path = folder / f"{grid['names'][0]}.jsonl"
    lines = path.read_text().splitlines()
    if damage == "no test_loss":
        path.write_text("".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "test_loss"}) + "\n"
                                for line in lines))
    elif damage in ("epoch twice", "bad line inside"):
        kept = [*lines, lines[-1]] if damage == "epoch twice" else [lines[0], "{x", lines[1]]
        path.write_text("\n".join(kept) + "\n")
    elif damage == "seed copied":
        shutil.copy(path, folder / f"{grid['names'][0]} copy.jsonl")
    elif damage == "bad weights":
        weights_path(path).write_bytes(b"not a zip")
    elif damage == "bad manifest":
        (folder / "grid-smoke.json").write_text(json.dumps({"runs": [{"name": "x"}]}))
    else:
        (folder / f"{grid['names'][0]}.diverged.json").write_text("{}")
    with pytest.raises(RecordError) as refused:
        analyze(folder, tmp_path / "analysis")
    assert said in str(refused.value), str(refused.value)


def test_a_tsne_seed_with_no_runs_is_refused_where_another_seed_was_drawn(grid, tmp_path):
    from zoadamm_worker.records import RecordError

    with pytest.raises(RecordError, match="^--tsne-seed 7: no FO and ZO q=1 forward .* that have both are 0, 1$"):
        analyze(grid["out"], tmp_path / "seven", tsne_seed=7)
    assert (analyze(grid["out"], tmp_path / "one", tsne_seed=1).parent / "fig5_tsne.png").exists()


def test_the_cli_lists_a_grid_and_analyses_a_folder(grid, tmp_path, capsys):
    assert cli.main(["run", "--preset", "smoke", "--seeds", "5", "--dry-run", "--out", str(tmp_path)]) == 0
    assert "fo-d1400-seed5-n640  (2 epochs)" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError):
        analyze(tmp_path)  # nothing recorded there
