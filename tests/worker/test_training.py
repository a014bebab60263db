"""The MNIST workers through a real service process, on the full 60k/10k MNIST.

These are the acceptance runs of the worker: one epoch of the paper's smallest CNN (d = 1,400)
from the same initial weights (seed 0), tested on the 10k test set.
"""

from __future__ import annotations

import numpy as np
import pytest

from zoadamm import Client
from zoadamm_service.launch import local_service
from zoadamm_worker.mnist import load_mnist
from zoadamm_worker.records import read_records
from zoadamm_worker.train import RunSpec, train


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture(scope="module")
def service_url():
    with local_service() as url:  # the zoadamm-service console script, embedded store
        yield url


def test_fo_worker_reaches_90_percent_in_one_epoch(mnist, service_url, tmp_path):
    """With the training set shuffled each epoch; in MNIST's own order (the paper's) the same
    epoch ends just below 0.90 (docs/experiments.md says why the bars are where they are)."""
    records = train(RunSpec(method="adamm", epochs=1, seed=0, shuffle=True), service_url,
                    tmp_path / "fo.jsonl", data=mnist, progress=False)
    (row,) = records
    assert row["test_accuracy"] >= 0.90
    assert row["steps"] == 469 and row["evaluations"] == 469  # 60,000 / 128, rounded up
    assert read_records(tmp_path / "fo.jsonl") == records
    with Client(service_url) as client:
        session = client.sessions.get(row["session"])
    assert session.config["method"] == "adamm" and session.step == 469
    assert session.recent_metrics[-1]["value"] == pytest.approx(row["test_loss"])


def test_zo_worker_beats_25_percent_in_one_epoch(mnist, service_url, tmp_path):
    """q = 1 in MNIST's own order (as the paper trained), with lr = 2e-3.

    One epoch of q = 1 ZO is chaotic in float rounding: at the paper's lr of 1e-3 seed 0 ends
    at 0.2607 on one CPU model and 0.2341 on another, and seeds 0-3 span 0.196-0.308 on the
    second.  A bar of 0.25 at that lr passes or fails with the machine, so it is held at
    lr = 2e-3 (0.275-0.411 over the same seeds there); the paper's lr is checked below."""
    (row,) = train(RunSpec(method="zo-adamm", epochs=1, directions=1, seed=0, lr=2e-3), service_url,
                   tmp_path / "zo.jsonl", data=mnist, progress=False)
    assert row["test_accuracy"] > 0.25
    assert row["evaluations"] == 469 * 2  # f(x) and f(x + mu u): function values only
    assert set(read_records(tmp_path / "zo.jsonl")[0]) >= {
        "epoch", "train_loss", "test_loss", "test_accuracy", "seconds", "evaluations", "d"}


def test_zo_worker_learns_in_one_epoch_at_the_papers_settings(mnist, service_url):
    """lr = mu = 1e-3: well above chance (0.10), below the spread of the seeds (0.196-0.308)."""
    (row,) = train(RunSpec(method="zo-adamm", epochs=1, directions=1, seed=0), service_url, data=mnist,
                   progress=False)
    assert row["test_accuracy"] > 0.15 and row["test_loss"] < 2.25  # ln 10 = 2.30 at chance


def test_the_same_seed_gives_the_same_losses(mnist, service_url):
    spec = RunSpec(method="zo-adamm", epochs=2, directions=2, seed=3, max_steps=25, train_limit=1280)
    first, second = (train(spec, service_url, data=mnist, progress=False) for _ in range(2))
    keys = ("train_loss", "test_loss", "test_accuracy")
    assert [[r[k] for k in keys] for r in first] == [[r[k] for k in keys] for r in second]
    assert first[0]["session"] != second[0]["session"]
    other = train(RunSpec(**{**spec.__dict__, "seed": 4}), service_url, data=mnist, progress=False)
    assert not np.isclose(other[0]["train_loss"], first[0]["train_loss"], rtol=0, atol=1e-9)


def test_each_record_keeps_the_runs_lr_and_the_schedules(mnist, service_url, tmp_path):
    """A record's lr and mu are the run's settings (what groups runs); scheduled_lr and
    scheduled_mu the session's after that epoch's report, halved by the plateau schedule."""
    spec = RunSpec(method="zo-adamm", epochs=8, lr=0.05, train_limit=128, normalize=True)
    records = train(spec, service_url, tmp_path / "zo.jsonl", data=mnist, progress=False)
    with Client(service_url) as client:
        history = client.sessions.history(records[0]["session"])
    assert [(r["scheduled_lr"], r["scheduled_mu"]) for r in records] == [(h["lr"], h["mu"]) for h in history]
    assert {(r["lr"], r["mu"]) for r in records} == {(0.05, 1e-3)}
    assert records[-1]["scheduled_lr"] < 0.05 and records[-1]["scheduled_mu"] < 1e-3  # the schedule acted
    assert read_records(tmp_path / "zo.jsonl") == records


def test_a_run_in_pieces_of_steps_reports_and_records_each_epoch_once_as_a_whole_run(mnist, service_url, tmp_path):
    """--steps that end inside an epoch, continued with --resume: each epoch is reported (the
    plateau schedule counts reports) and recorded once, when it ends, so the pieces train as the
    whole run does, bit for bit."""
    spec = RunSpec(method="zo-adamm", epochs=3, lr=0.05, train_limit=640, normalize=True)  # 5 steps an epoch
    whole = train(spec, service_url, tmp_path / "whole.jsonl", data=mnist, progress=False)
    pieces = tmp_path / "pieces.jsonl"
    for steps in (1, 3, 7, 9, None):
        rows = train(RunSpec(**{**spec.__dict__, "max_steps": steps}), service_url, pieces, data=mnist,
                     progress=False, resume=True, session_name="in pieces")
        assert all(row["complete"] == (row["steps"] % 5 == 0) for row in rows)
    keys = ("epoch", "test_loss", "test_accuracy", "steps", "scheduled_lr")
    assert [[r[k] for k in keys] for r in read_records(pieces)] == [[r[k] for k in keys] for r in whole]
    with Client(service_url) as client:
        assert len(client.sessions.history(read_records(pieces)[-1]["session"])) == 3


def test_a_run_continued_on_other_data_is_refused_and_past_its_epochs_reports_nothing(mnist, service_url, tmp_path):
    """A session is found by its name and settings, which leave the data out: --resume with
    another --batch-size went on with 64-image minibatches in the same records, and a --train-limit
    of 1 batch an epoch reported an "epoch 20" of a run of --epochs 3, with a NaN train loss."""
    from zoadamm import InvalidArgument

    spec = RunSpec(method="zo-adamm", epochs=2, lr=0.05, train_limit=640)  # 5 steps an epoch
    record = tmp_path / "run.jsonl"
    first = train(spec, service_url, record, data=mnist, progress=False, resume=True, session_name="data")
    other = RunSpec(**{**spec.__dict__, "epochs": 3, "batch_size": 64})
    with pytest.raises(InvalidArgument) as refused:
        train(other, service_url, record, data=mnist, progress=False, resume=True, session_name="data")
    assert str(refused.value) == (
        f"session {first[-1]['session']} was trained on other data, as {record} records it: batch_size 128 "
        "(here 64); continuing it would mix two runs: give the same options, or another --name for a new run")
    assert len(read_records(record)) == 2
    one_batch = RunSpec(**{**spec.__dict__, "epochs": 3, "train_limit": 128})  # step 10 is "epoch 10"
    assert train(one_batch, service_url, None, data=mnist, progress=False, resume=True, session_name="data") == []
    with Client(service_url) as client:
        assert len(client.sessions.history(first[-1]["session"])) == 2  # the two epochs' reports, no more


def test_a_long_epoch_shows_its_progress_in_a_log(mnist, service_url, monkeypatch, capsys):
    """With stderr a file or a pipe, an epoch printed nothing until its end (a minute at the
    paper's larger scales): a line comes at least every LOG_EVERY_S (here 0: every step)."""
    from zoadamm_worker import train as training

    monkeypatch.setattr(training, "LOG_EVERY_S", 0.0)
    spec = RunSpec(method="zo-adamm", epochs=1, lr=0.05, train_limit=384)  # 3 steps
    train(spec, service_url, None, data=mnist, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if ": step " in line]
    assert [line.split(": step ")[1].split(",")[0] for line in lines] == ["1 of 3", "2 of 3", "3 of 3"], lines
    assert lines[0].startswith(f"{spec.label} epoch 1/1: step 1 of 3, train ")
