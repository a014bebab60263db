"""The ZO attacks on real MNIST through a real victim over HTTP, tiny budgets: every point the
victim is asked about lies in X, the attack fools the victim, and a run on the service's
sessions is bit for bit the run in process."""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pytest
import torch

from zoadamm_service.launch import local_service
from zoadamm_worker.attack.runner import AttackSettings, run_attack
from zoadamm_worker.attack.victim import create_app
from zoadamm_worker.attack.zo import attack_one, image_constraint
from zoadamm_worker.attack.zo_settings import ZO_METHODS, ZoSettings
from zoadamm_worker.cli import main as cli_main

EPS = 0.2


class RecordingClassifier(torch.nn.Module):
    """The victim's model, keeping a copy of every image it classifies."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.seen: list[np.ndarray] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen.append(images.reshape(len(images), -1).numpy().copy())
        return self.model(images)


@pytest.fixture(scope="module")
def service_url(module_redis_url):
    with local_service(module_redis_url) as url:
        yield url


def test_every_point_the_victim_sees_lies_in_x_and_an_image_is_fooled(classifier, test_window, service_url,
                                                                      serve):
    recorder = RecordingClassifier(classifier)
    images = test_window[0][:3]
    with serve(create_app(recorder)) as url:
        settings = AttackSettings(method="zo-adamm", norm="inf", eps=EPS, budget=400, images=3, victim=url,
                                  service=service_url, lr=0.02)
        summary = run_attack(settings)
    assert summary["success_rate"] > 0
    seen = np.concatenate(recorder.seen)
    assert len(seen) == summary["queries_total"] + 3  # and the request that checks the 3 images
    # each image asked about belongs to the test image nearest to it (they are far apart)
    nearest = np.argmin(((seen[:, None, :] - images[None]) ** 2).sum(axis=2), axis=1)
    offsets = seen - images[nearest]
    assert np.abs(offsets).max() <= EPS + 1e-6
    assert seen.min() >= 0 and seen.max() <= 1
    assert len(set(nearest)) == 3


def test_the_iterates_stay_in_the_sessions_feasible_set(victim_url, first_target):
    for norm, eps in (("inf", EPS), ("2", 2.0)):
        iterates: list[np.ndarray] = []
        zo = ZoSettings("zo-adamm", lr=0.05)
        watch = attack_one(zo, first_target, norm, eps, 120, victim_url, f"iterates-{norm}", iterates.append)
        assert len(iterates) >= 2 and watch.counted <= 120
        constraint = image_constraint(first_target.image, norm, eps)
        assert all(constraint.violation(x) is None for x in iterates)
        assert np.abs(iterates[-1]).max() > 0  # it moved


@pytest.mark.parametrize("method", ZO_METHODS)
def test_a_run_through_the_service_is_bit_identical_to_one_in_process(victim_url, service_url, first_target,
                                                                       method):
    runs = {}
    for name, where, mirror in (("in-process", None, False), ("service", service_url, False),
                                ("service-mirror", service_url, True)):
        iterates: list[np.ndarray] = []
        watch = attack_one(ZoSettings(method, seed=7, service=where, mirror=mirror), first_target, "inf", EPS, 110,
                           victim_url, f"identical-{method}-{name}", iterates.append)
        runs[name] = (np.stack(iterates), watch.outcome(), watch.counted)
    local, local_outcome, local_count = runs.pop("in-process")
    assert local.shape == (10, first_target.image.size) and np.abs(local[-1]).max() > 0
    for remote, remote_outcome, remote_count in runs.values():
        np.testing.assert_array_equal(local, remote)
        np.testing.assert_array_equal(local_outcome.delta, remote_outcome.delta)
        assert (local_outcome.margin, local_outcome.queries, local_count) == (
            remote_outcome.margin, remote_outcome.queries, remote_count)


@pytest.mark.parametrize("method, norm, eps", [("zo-adamm", "inf", EPS), ("zo-sgd", "2", 2.0),
                                               ("zo-signsgd", "inf", EPS)])
def test_the_zo_runners_run_on_the_service(victim_url, service_url, tmp_path, method, norm, eps):
    import httpx

    records = tmp_path / "records.jsonl"
    before = httpx.get(victim_url + "/stats").json()
    settings = AttackSettings(method=method, norm=norm, eps=eps, budget=60, images=3, victim=victim_url,
                              service=service_url, concurrency=2)
    summary = run_attack(settings, records)
    after = httpx.get(victim_url + "/stats").json()
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert summary["attacked"] == len(rows) == 3 and summary["method"] == method
    assert sorted(row["index"] for row in rows) == [0, 1, 2]
    for row in rows:
        assert 1 <= row["queries"] <= row["spent"] <= 60
        assert (row["linf"] if norm == "inf" else row["l2"]) <= eps + 1e-6
    assert after["images"] - before["images"] == summary["queries_total"] + 3
    for key in ("success_rate", "median_queries", "mean_linf", "mean_l2", "queries_total"):
        assert key in summary
    # every session was deleted after its image
    from zoadamm import Client

    with Client(service_url) as client:
        assert client.sessions.list() == []


def test_the_first_success_ends_an_image(victim_url, first_target):
    watch = attack_one(ZoSettings("zo-adamm", lr=0.05, seed=3), first_target, "inf", 0.3, 3000, victim_url,
                       "first-success")
    outcome = watch.outcome()
    assert outcome.success and outcome.predicted != first_target.label
    # a step is 11 queries; the one that found the success is the last one sent
    assert outcome.queries > watch.counted - 11


def test_a_universal_perturbation_is_fitted_and_judged_on_held_out_images(victim_url):
    from zoadamm_worker.attack.universal import UniversalRun, run_universal

    run = UniversalRun("inf", EPS, budget=440, train_images=40, batch=4, images=12, offset=100)
    summary, records, delta = run_universal(ZoSettings("zo-adamm", lr=0.02), run, victim_url)
    assert summary["queries_total"] == 440 and summary["steps"] == 10  # 10 steps of 4 x 11 images
    assert np.abs(delta).max() <= EPS + 1e-6 and np.abs(delta).max() > 0
    assert len(records) == summary["attacked"] >= 10 and all(100 <= r["index"] < 112 for r in records)
    fooled = [r for r in records if r["fooled"]]
    assert summary["fooling_rate"] == len(fooled) / len(records)
    assert all(r["predicted"] != r["label"] for r in fooled)


def test_a_universal_summary_names_the_batch_its_steps_used(victim_url):
    """--train-images 3 --batch 10 reported a batch of 10, though every step averaged over 3."""
    from zoadamm_worker.attack.universal import UniversalRun, run_universal

    run = UniversalRun("inf", EPS, budget=33, train_images=3, batch=10, images=2)
    summary, _, _ = run_universal(ZoSettings("zo-sgd", lr=0.02), run, victim_url)
    assert summary["batch"] == 3 and summary["steps"] == 1 and summary["queries_total"] == 33


def test_a_zo_method_needs_a_service_or_in_process(victim_url):
    settings = AttackSettings(method="zo-sgd", norm="inf", eps=EPS, budget=10, images=1, victim=victim_url)
    with pytest.raises(ValueError, match=r"either the service's URL \(--service\) or --in-process"):
        run_attack(settings)



def test_the_command_line_runs_a_universal_perturbation(victim_url, tmp_path, capsys):
    records = tmp_path / "universal.jsonl"
    status = cli_main(["attack", "--method", "zo-signsgd", "--universal", "--in-process", "--victim", victim_url,
                       "--images", "5", "--offset", "200", "--budget", "66", "--train-images", "20", "--batch", "2",
                       "--eps", "0.2", "--records", str(records), "--json"])
    out = capsys.readouterr().out
    assert status == 0
    summary = json.loads(out)
    assert summary["universal"] and summary["queries_total"] == 66 and summary["steps"] == 3
    assert len(records.read_text().splitlines()) == summary["attacked"]


def test_the_command_line_refuses_a_universal_peer_in_one_line(victim_url, capsys):
    status = cli_main(["attack", "--method", "art-zoo", "--universal", "--in-process", "--victim", victim_url,
                       "--eps", "0.2"])
    error = capsys.readouterr().err
    assert status == 1 and "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert "--universal takes the methods zo-adamm, zo-sgd, zo-signsgd" in error


def test_sixteen_images_are_in_flight_at_once():
    from zoadamm_worker.attack.objective import Target
    from zoadamm_worker.attack.zo import in_flight
    from zoadamm_worker.attack.zo_settings import DEFAULT_CONCURRENCY

    # the first 16 images only finish once all 16 have started; a guard, not a timing, ends a hang
    together = threading.Barrier(DEFAULT_CONCURRENCY, timeout=120)
    started, lock = [], threading.Lock()

    def work(target: Target, stop: threading.Event) -> int:
        with lock:
            started.append(target.index)
            first_wave = len(started) <= DEFAULT_CONCURRENCY
        if first_wave:
            together.wait()
        return target.index

    targets = [Target(i, np.zeros(4, np.float32), 0) for i in range(20)]
    finished = list(in_flight(work, targets, DEFAULT_CONCURRENCY))
    assert DEFAULT_CONCURRENCY >= 16
    assert sorted(index for _, index in finished) == list(range(20))
    assert all(target.index == index for target, index in finished)


def test_a_run_that_ends_early_stops_the_images_in_flight_before_their_next_query():
    """Ctrl-C (or a failure) while images are in flight: their threads see ``stop`` and send no
    further query, where each used to run its whole budget before the run could end."""
    from zoadamm_worker.attack.objective import Target
    from zoadamm_worker.attack.zo import in_flight

    queries, first_done = [], threading.Event()

    def work(target: Target, stop) -> int:
        if target.index == 0:
            first_done.wait(60)  # a guard, not a timing: image 0 ends once the others are under way
            return 0
        for _ in range(10_000):  # a long attack: a query, then a look at stop, as attack_one's ask does
            if stop.is_set():
                raise RuntimeError("abandoned")
            queries.append(target.index)
            if len(queries) > 8:
                first_done.set()
            time.sleep(0.001)
        return target.index

    targets = [Target(i, np.zeros(4, np.float32), 0) for i in range(4)]
    run = in_flight(work, targets, 4)
    assert next(run)[0].index == 0
    run.close()  # the caller stops reading, as an interrupt in the consumer does
    assert len(queries) < 10_000  # each in-flight image stopped long before its budget


def test_a_universal_step_larger_than_a_request_is_refused_before_any_query(victim_url, capsys):
    before = httpx.get(victim_url + "/stats").json()
    status = cli_main(["attack", "--method", "zo-adamm", "--universal", "--in-process", "--victim", victim_url,
                       "--images", "3", "--budget", "2200", "--train-images", "100", "--batch", "100", "--eps", "0.2"])
    error = capsys.readouterr().err
    assert status == 1 and len(error.strip().splitlines()) == 1
    assert "a step asks the victim about batch · (1 + q) = 1100 images in one request" in error
    assert httpx.get(victim_url + "/stats").json()["images"] == before["images"]


@pytest.mark.parametrize("options, words", [
    (["--budget", "43", "--batch", "4"], "a budget of 43 queries cannot pay for one step of the universal attack, "
                                         "which costs batch · (1 + q) = 44"),
    (["--budget", "440", "--train-images", "60001"], "--train-images 60001: MNIST has 60000 training images"),
])
def test_a_universal_run_that_cannot_fit_is_refused_before_any_query(victim_url, capsys, options, words):
    """A budget below one step reported "fooled 0" and exit 0; too many training images failed in a reshape."""
    before = httpx.get(victim_url + "/stats").json()
    status = cli_main(["attack", "--method", "zo-adamm", "--universal", "--in-process", "--victim", victim_url,
                       "--images", "3", "--eps", "0.2", *options])
    error = capsys.readouterr().err
    assert status == 1 and len(error.strip().splitlines()) == 1 and words in error
    assert httpx.get(victim_url + "/stats").json()["images"] == before["images"]


def test_a_universal_run_onto_earlier_outputs_is_refused_before_any_query(victim_url, tmp_path, capsys):
    """A universal run has nothing to continue: it appended a second run's verdicts to the first's."""
    records = tmp_path / "universal.jsonl"
    records.write_text(json.dumps({"index": 0, "label": 7, "predicted": 7, "fooled": False}) + "\n")
    before = httpx.get(victim_url + "/stats").json()
    status = cli_main(["attack", "--method", "zo-adamm", "--universal", "--in-process", "--victim", victim_url,
                       "--images", "3", "--budget", "440", "--eps", "0.2", "--records", str(records)])
    error = capsys.readouterr().err
    assert status == 1 and len(error.strip().splitlines()) == 1
    assert f"{records} holds an earlier run's output, and a universal run starts over" in error
    assert httpx.get(victim_url + "/stats").json()["images"] == before["images"]
