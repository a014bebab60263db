"""Grid presets and run names: pure functions, no service."""

from __future__ import annotations

import json

import pytest

from zoadamm_worker.experiments.grid import PRESETS, build_grid, run_name


def test_the_paper_preset_matches_the_paper_grid():
    runs = build_grid("paper")
    names = [run_name(spec) for spec in runs]
    assert len(names) == len(set(names)) == 18  # 3 sizes x 3 seeds x (FO, ZO q=1)
    assert {spec.dim: spec.epochs for spec in runs} == {1400: 50, 169196: 50, 2806751: 5}
    assert {spec.dim for spec in runs if spec.save_weights} == {1400}
    assert names[:2] == ["fo-d1400-seed0", "zo-d1400-q1-forward-vhat-seed0"]  # matched pairs first


def test_overrides_replace_epochs_seeds_scales_and_q():
    runs = build_grid("q-sweep", epochs=3, seeds=[7], qs=[2, 3])
    assert {spec.epochs for spec in runs} == {3} and {spec.seed for spec in runs} == {7}
    assert sorted(run_name(s) for s in runs) == [
        "fo-d1400-seed7", "zo-d1400-q2-central-vhat-seed7", "zo-d1400-q2-forward-vhat-seed7",
        "zo-d1400-q3-central-vhat-seed7", "zo-d1400-q3-forward-vhat-seed7"]
    paper = build_grid("paper", scales=[1 / 9])  # two blocks, one scale: no run twice
    assert [run_name(s) for s in paper] == [run_name(s) for s in build_grid("paper")[:6]]


def test_variant_and_smoke_presets():
    (variant,) = {run_name(s).split("-seed")[0] for s in build_grid("paper-variant")}
    assert variant == "zo-d1400-q1-forward-v"
    smoke = build_grid("smoke")
    assert len(smoke) == 6 and {s.train_limit for s in smoke} == {640} and run_name(smoke[0]) == "fo-d1400-seed0-n640"
    raw = build_grid("raw-inputs")
    assert len(raw) == 12 and not any(s.normalize for s in raw)
    assert run_name(raw[1]) == "zo-d1400-q1-forward-vhat-seed0-raw"
    assert all(s.normalize for s in build_grid("paper"))  # and their names carry no suffix
    sweep = {run_name(s) for s in build_grid("q-sweep", seeds=[0])}
    assert sweep == {"fo-d1400-seed0"} | {f"zo-d1400-q{q}-{difference}-vhat-seed0"
                                          for q in (1, 4, 8, 16) for difference in ("forward", "central")}


def test_the_methods_preset_runs_each_zo_method_over_its_lr_grid_and_names_both():
    runs = build_grid("methods", seeds=[0])
    assert {(s.method, s.lr) for s in runs} == {(m, lr) for m, lrs in PRESETS["methods"].blocks[0].methods
                                                 for lr in lrs}
    assert all(s.epochs == 5 and s.directions == 1 and s.dim == 1400 for s in runs)
    names = {run_name(s) for s in runs}
    assert len(names) == len(runs)  # no two runs share a record file
    assert "zo-sgd-d1400-q1-forward-lr0.0003-seed0" in names and "zo-d1400-q1-forward-vhat-seed0" in names


def test_bad_overrides_are_refused():
    with pytest.raises(ValueError):
        build_grid("smoke", epochs=0)
    with pytest.raises(KeyError):
        build_grid("nope")


def test_a_manifest_keeps_the_runs_of_earlier_invocations(tmp_path):
    from zoadamm_worker.experiments.runner import write_manifest

    write_manifest(tmp_path, "smoke", build_grid("smoke", seeds=[0]))
    manifest = write_manifest(tmp_path, "smoke", build_grid("smoke", seeds=[1], epochs=3))
    runs = json.loads(manifest.read_text())["runs"]
    assert [r["name"] for r in runs] == [run_name(s) for s in build_grid("smoke")]
    progress = [(r["epochs"], r["epochs_recorded"], r["complete"]) for r in runs]
    assert progress == [(2, 0, False)] * 3 + [(3, 0, False)] * 3


def test_a_run_that_diverges_is_marked_the_grid_goes_on_and_a_rerun_skips_it(tmp_path, monkeypatch):
    from zoadamm_worker.experiments import runner
    from zoadamm_worker.train import Diverged

    tried = []

    def diverging(spec, url, path, **_):
        tried.append(run_name(spec))
        raise Diverged(step=12, lr=spec.lr)

    monkeypatch.setattr(runner, "train", diverging)
    runs = build_grid("methods", seeds=[0])[:2]
    logged: list[str] = []
    assert runner.run_grid(runs, tmp_path, service="http://127.0.0.1:9", data=object(), log=logged.append) == \
        [run_name(s) for s in runs]
    assert tried == [run_name(s) for s in runs]  # the first divergence did not stop the grid
    marker = json.loads((tmp_path / f"{run_name(runs[0])}.diverged.json").read_text())
    assert marker["step"] == 12 and marker["lr"] == runs[0].lr
    assert any("the loss is not finite at step 12" in line for line in logged)
    assert runner.run_grid(runs, tmp_path, service="http://127.0.0.1:9", data=object(), log=logged.append) == []
    assert len(tried) == 2  # complete: not tried again


def test_records_moved_aside_in_the_same_second_are_both_kept(tmp_path, monkeypatch):
    """A run cut short twice within one second (a service that refuses it at once, say) leaves
    two records aside: the second is not written over the first."""
    from zoadamm_worker.experiments import runner

    monkeypatch.setattr(runner.time, "strftime", lambda fmt: "20261206-140531")
    path = tmp_path / "fo-d1400-seed0.jsonl"
    moved = []
    for epochs in (1, 2):
        path.write_text("".join(json.dumps({"epoch": e}) + "\n" for e in range(1, epochs + 1)))
        runner.weights_path(path).write_text(f"weights of {epochs}")
        moved.append(runner.move_aside(path))
    assert [p.name for p in moved] == ["fo-d1400-seed0.20261206-140531.jsonl", "fo-d1400-seed0.20261206-140531-2.jsonl"]
    assert [len(runner.read_records(p)) for p in moved] == [1, 2]
    assert [runner.weights_path(p).read_text() for p in moved] == ["weights of 1", "weights of 2"]
    assert not path.exists()


def test_a_grid_stopped_in_training_names_the_run_it_stopped(tmp_path, monkeypatch, capsys):
    import signal

    from zoadamm.sdk.minimize import Interrupted
    from zoadamm_worker import mnist
    from zoadamm_worker.experiments import cli, runner
    from zoadamm_worker.train import Diverged

    def first_diverges_then_ctrl_c(spec, url, path, **_):
        if not tried:
            tried.append(run_name(spec))
            raise Diverged(step=3, lr=spec.lr)  # a run done with, so that the stopped one is not the first
        tried.append(run_name(spec))
        raise Interrupted("interrupted at step 99 of session abc", "abc", 99)

    tried: list[str] = []
    monkeypatch.setattr(runner, "train", first_diverges_then_ctrl_c)
    monkeypatch.setattr(cli, "check_service", lambda url: None)
    monkeypatch.setattr(mnist, "load_mnist", lambda *args: object())
    argv = ["run", "--preset", "smoke", "--out", str(tmp_path), "--service", "http://127.0.0.1:9", "--quiet"]
    assert cli.main(argv) == 128 + signal.SIGINT
    assert len(tried) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"zoadamm-experiments: interrupted at step 99 of run {tried[1]}; continue with: "), last
