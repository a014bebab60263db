"""The comparison's runners on real MNIST through a real victim, tiny budgets: ART's ZOO and
Square Attack through the REST victim, white-box PGD on the model file, the command line,
and the report from their records, so that the comparison code cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from zoadamm_worker.attack import cli as attack_cli
from zoadamm_worker.attack.runner import RUNNERS, AttackSettings, run_attack

BIN = Path(sys.executable).parent
RECORD_KEYS = {"method", "norm", "eps", "budget", "seed", "victim", "index", "label", "success", "queries", "spent",
               "linf", "l2", "margin", "predicted"}
SUMMARY_KEYS = {"success_rate", "median_queries", "mean_linf", "mean_l2", "queries_total",
                "attacked", "skipped_misclassified"}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _check_rows(rows: list[dict], budget: int, norm: str, eps: float, keys: set[str] = RECORD_KEYS) -> None:
    assert len(rows) == 2 and all(set(row) == keys for row in rows)
    for row in rows:
        assert 1 <= row["queries"] <= row["spent"] <= budget
        assert (row["linf"] if norm == "inf" else row["l2"]) <= eps + 1e-6
        assert row["success"] == (row["margin"] < 0) == (row["predicted"] != row["label"])


@pytest.mark.parametrize("method, norm, eps, budget", [
    ("art-square", "inf", 0.2, 300), ("art-square", "2", 2.0, 300),
    ("art-zoo", "inf", 0.2, 600), ("art-zoo", "2", 2.0, 600),
])
def test_the_art_runners_attack_through_the_victim(victim_url, tmp_path, method, norm, eps, budget):
    records, examples = tmp_path / "records.jsonl", tmp_path / "examples.npz"
    before = httpx.get(victim_url + "/stats").json()
    settings = AttackSettings(method=method, norm=norm, eps=eps, budget=budget, images=2, victim=victim_url)
    summary = run_attack(settings, records, examples)
    after = httpx.get(victim_url + "/stats").json()
    rows = _rows(records)
    _check_rows(rows, budget, norm, eps)
    assert set(summary) >= SUMMARY_KEYS and summary["attacked"] == 2
    # the victim counted every query of the run: the two images' tags, and the selection request
    run_tags = {tag: n for tag, n in after["tags"].items() if tag not in before["tags"]}
    (selection,) = [tag for tag in run_tags if tag.endswith("/selection")]
    assert run_tags.pop(selection) == 2
    assert sorted(run_tags.values()) == sorted(row["spent"] for row in rows)
    assert after["images"] - before["images"] == summary["queries_total"] + 2
    saved = np.load(examples)
    assert list(saved["index"]) == [row["index"] for row in rows]
    assert saved["final"].min() >= 0 and saved["final"].max() <= 1


def test_square_fools_the_victim_within_a_small_budget(victim_url):
    settings = AttackSettings(method="art-square", norm="inf", eps=0.2, budget=300, images=2, victim=victim_url)
    assert run_attack(settings)["success_rate"] > 0


@pytest.mark.parametrize("norm, eps", [("inf", 0.2), ("2", 2.0)])
def test_white_box_pgd_on_the_model_file(model_file, tmp_path, norm, eps):
    records = tmp_path / "pgd.jsonl"
    settings = AttackSettings(method="pgd", norm=norm, eps=eps, budget=20, images=2, model=str(model_file))
    summary = run_attack(settings, records)
    _check_rows(_rows(records), 20, norm, eps, RECORD_KEYS - {"victim"})  # the model file, no victim
    assert summary["success_rate"] == 1.0  # gradients: the upper bound


def test_the_parser_offers_every_runner():
    assert set(attack_cli.METHODS) == set(RUNNERS)


def test_the_command_line_runs_and_reports(victim_url, tmp_path):
    records, examples, out = tmp_path / "square.jsonl", tmp_path / "square.npz", tmp_path / "report"
    done = subprocess.run([str(BIN / "zoadamm-worker"), "attack", "--method", "art-square", "--victim", victim_url,
                           "--images", "2", "--offset", "5", "--budget", "200", "--norm", "inf", "--eps", "0.2",
                           "--records", str(records), "--examples", str(examples), "--json", "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert set(summary) >= SUMMARY_KEYS and summary["offset"] == 5
    assert [row["index"] for row in _rows(records)] == [5, 6]
    done = subprocess.run([str(BIN / "zoadamm-worker"), "attack-report", str(records), "--examples", str(examples),
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "| art-square | ℓ∞ | 0.2 | 200 | 2 |" in (out / "table.md").read_text()
    for name in ("curves.png", "examples.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_line_says_in_one_line_when_no_victim_answers(tmp_path):
    from zoadamm_service.launch import free_port

    done = subprocess.run([str(BIN / "zoadamm-worker"), "attack", "--method", "art-zoo", "--victim",
                           f"http://127.0.0.1:{free_port()}", "--images", "2", "--eps", "0.2"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "cannot reach the victim" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_art_repeats_are_answered_from_the_cache_and_counted_once(victim_url, first_target):
    from zoadamm_worker.attack.feasible import PerturbationSet
    from zoadamm_worker.attack.objective import ImageQueries
    from zoadamm_worker.attack.peers import CachedPredict
    from zoadamm_worker.attack.victim_client import VictimClient

    with VictimClient(victim_url) as victim:
        queries = ImageQueries(victim.predict, first_target, PerturbationSet(first_target.image, "inf", 0.2), 100,
                               tag="cache-test")
        predict = CachedPredict(queries)
        batch = np.stack([first_target.image, first_target.image + 0.1, first_target.image]).reshape(3, 1, 28, 28)
        first = predict(batch)
        assert queries.watch.counted == 2 and np.array_equal(first[0], first[2])
        np.testing.assert_array_equal(predict(batch[::-1]), first[::-1])
        assert queries.watch.counted == 2 and victim.stats()["tags"]["cache-test"] == 2
        assert np.allclose(np.exp(first).sum(axis=1), 1, atol=1e-5)  # log-probabilities


def test_pgd_ascends_the_margin_the_black_box_attacks_use():
    import torch

    from zoadamm_worker.attack.pgd import MarginLoss
    from zoadamm_worker.attack.watch import margins

    logits = torch.tensor([[2.0, 5.0, -1.0], [30.0, -4.0, 3.0]], dtype=torch.float64)
    one_hot = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert float(MarginLoss()(logits, one_hot)) == pytest.approx(((2 - 5) + (3 - 30)) / 2)
    probabilities = torch.softmax(logits, dim=1).numpy()  # the log-probability margin is the logit margin
    assert np.allclose(-margins(probabilities[:1], 1), [2 - 5])
    assert np.allclose(-margins(probabilities[1:], 0), [3 - 30])


def test_a_point_with_nan_pixels_is_answered_nan_without_a_query(victim_url, first_target):
    from zoadamm_worker.attack.feasible import PerturbationSet
    from zoadamm_worker.attack.objective import ImageQueries
    from zoadamm_worker.attack.peers import CachedPredict
    from zoadamm_worker.attack.victim_client import VictimClient

    with VictimClient(victim_url) as victim:
        queries = ImageQueries(victim.predict, first_target, PerturbationSet(first_target.image, "2", 2.0), 100,
                               tag="nan-test")
        broken = first_target.image.copy()
        broken[5] = np.nan
        predict = CachedPredict(queries)
        answer = predict(np.stack([broken, first_target.image]).reshape(2, 1, 28, 28))
        assert np.isnan(answer[0]).all() and np.isfinite(answer[1]).all()
        assert np.isnan(predict(broken.reshape(1, 1, 28, 28))).all()  # a batch of nothing else
        assert queries.watch.counted == 1 and victim.stats()["tags"]["nan-test"] == 1


@pytest.mark.parametrize("change, words", [
    ({"method": "zo-nothing"}, "method must be one of"), ({"norm": "1"}, "norm must be one of"),
    ({"eps": 0.0}, "eps must be positive"), ({"budget": 0}, "budget must be positive"),
    ({"victim": None}, "give its URL"), ({"method": "pgd", "model": None}, "give the model file"),
    ({"method": "zo-adamm", "in_process": True, "service": "http://127.0.0.1:9"},
     "either the service's URL \\(--service\\) or --in-process"),
    ({"method": "zo-adamm", "service": "http://127.0.0.1:9", "directions": 10},
     "a budget of 10 queries cannot pay for one step of zo-adamm, which costs 11"),
    ({"method": "zo-adamm", "service": "http://127.0.0.1:9", "directions": 1024, "budget": 5000},
     "--directions 1024: a step asks the victim about its 1 \\+ q = 1025 points in one request, and a request "
     "carries at most 1024 images"),
    ({"method": "art-square", "lr": 0.5}, "^--lr: only for the zo-\\* methods; art-square would ignore it$"),
    ({"method": "art-square", "lr": 0.5, "mirror": True, "service": "http://127.0.0.1:9", "mu": 0.01},
     "^--service, --mirror, --lr, --mu: only for the zo-\\* methods; art-square would ignore them$"),
    ({"method": "art-zoo", "in_process": True, "directions": 4, "concurrency": 2},
     "^--in-process, --directions, --concurrency: only for the zo-\\* methods"),
    ({"method": "pgd", "model": "victim.pt", "lr": 0.1}, "^--lr: only for the zo-\\* methods; pgd would ignore it"),
    ({"model": "victim.pt"}, "^--model: only for white-box pgd; art-zoo knows the victim only by its answers"),
    ({"method": "zo-sgd", "budget": 100, "in_process": True, "model": "victim.pt"}, "^--model: only for white-box"),
    ({"method": "zo-sgd", "budget": 100, "in_process": True, "mirror": True}, "^--mirror: only with --service"),
    ({"eps": 8.0}, "eps 8 is beyond the farthest any image of pixels in \\[0, 1\\] can move in the inf norm \\(1\\)"),
    ({"norm": "2", "eps": 30.0}, "in the 2 norm \\(28\\): eps is in pixel units"),
    # a probe x + mu u moves as far as mu: past every pixel's range it measures nothing of the image
    ({"method": "zo-adamm", "service": "http://127.0.0.1:9", "budget": 100, "mu": 1e6},
     "^mu 1e\\+06 is beyond the farthest any image of pixels in \\[0, 1\\] can move in the inf norm \\(1\\): mu is"),
    # each image's session is seeded seed * 100003 + index: refused before the victim is asked
    ({"method": "zo-adamm", "service": "http://127.0.0.1:9", "budget": 100, "seed": 184467440737095, "images": 3},
     "^--seed 184467440737095: image 2's directions would be seeded seed \\* 100003 \\+ 2, past a session's "
     "largest seed \\(9007199254740991\\): give --seed 90069290468 or less$"),
    ({"method": "zo-sgd", "in_process": True, "budget": 100, "seed": (2**64 - 1 - 19) // 100_003 + 1},
     "^--seed 184461906879890: image 19's .* \\(18446744073709551615\\): give --seed 184461906879889 or less$"),
])
def test_settings_that_cannot_run_are_refused_by_name(change, words):
    settings = {"method": "art-zoo", "norm": "inf", "eps": 0.2, "budget": 10, "victim": "http://127.0.0.1:9"}
    with pytest.raises(ValueError, match=words):
        run_attack(AttackSettings(**{**settings, **change}))


def test_a_universal_seed_past_a_session_s_largest_is_refused_before_the_victim_is_asked(tmp_path):
    done = subprocess.run([str(BIN / "zoadamm-worker"), "attack", "--universal", "--method", "zo-adamm", "--victim",
                           "http://127.0.0.1:9", "--service", "http://127.0.0.1:9", "--eps", "0.1",
                           "--seed", str(2**53)], capture_output=True, text=True, timeout=120)
    said = "argument --seed: expected an integer from 0 to 2^53 - 1 = 9,007,199,254,740,991, got '9007199254740992'"
    assert done.returncode == 1 and said in done.stderr, done.stderr


def test_a_file_where_a_folder_of_records_goes_names_the_option(tmp_path):
    (tmp_path / "afile").write_text("")
    done = subprocess.run([str(BIN / "zoadamm-worker"), "attack", "--method", "art-square", "--victim",
                           "http://127.0.0.1:9", "--eps", "0.1", "--records", str(tmp_path / "afile" / "r.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and f"--records: cannot write under {tmp_path / 'afile'}: a part of that path is a " \
        "file" in done.stderr, done.stderr


def test_a_universal_run_s_seed_is_its_own():
    """The per-image seeds' bound is a run of images' alone: a universal run (checked by the same
    check_settings) seeds its one session with the seed as given."""
    from zoadamm_worker.attack.runner import check_settings

    check_settings(AttackSettings(method="zo-adamm", norm="inf", eps=0.1, budget=100, seed=90071992547, offset=9980,
                                  images=20, victim="http://127.0.0.1:9", service="http://127.0.0.1:9"))


def test_a_run_that_attacked_no_image_says_so_in_its_line():
    from zoadamm_worker.attack.cli import summary_line
    from zoadamm_worker.attack.runner import summarize

    summary = summarize([], AttackSettings(method="art-square", norm="inf", eps=0.2, budget=10,
                                           victim="http://127.0.0.1:9"), skipped=[18], seconds=0.1)
    assert summary_line(summary).endswith("0 of 0 images fooled; 0 queries in all; skipped as misclassified: [18]")


@pytest.mark.parametrize("method, given, used", [
    ("art-square", {"victim": "http://127.0.0.1:9"}, {"victim"}),
    ("art-zoo", {"victim": "http://127.0.0.1:9"}, {"victim"}),
    ("pgd", {"model": "victim.pt"}, {"victim", "model"}),
    ("zo-adamm", {"victim": "http://127.0.0.1:9", "service": "http://127.0.0.1:8"},
     {"victim", "service", "in_process", "mirror", "lr", "mu", "directions", "concurrency"}),
])
def test_a_summary_lists_only_the_settings_its_method_used(method, given, used):
    """A peer's listed mu, directions and concurrency, which no peer reads (docs/attack.md: a summary
    that lists a setting claims the run used it)."""
    from zoadamm_worker.attack.runner import summarize

    summary = summarize([], AttackSettings(method=method, norm="inf", eps=0.2, budget=100, **given), [], 0.1)
    common = {"method", "norm", "eps", "budget", "images", "offset", "seed", "kappa", "c"}
    assert set(summary) == common | used | SUMMARY_KEYS | {"seconds"}
    assert {name: summary[name] for name in given} == given


def test_a_window_of_more_images_than_a_request_carries_is_judged_in_several(victim_url):
    """--images 1025 sent the whole window in one selection request, which the victim refused (413)."""
    from zoadamm_worker.attack.runner import choose_targets

    settings = AttackSettings(method="art-square", norm="inf", eps=0.2, budget=10, images=1025, victim=victim_url)
    before = httpx.get(victim_url + "/stats").json()
    targets, skipped = choose_targets(settings, "wide")
    after = httpx.get(victim_url + "/stats").json()
    assert after["tags"]["wide/selection"] == 1025 and after["requests"] - before["requests"] == 2
    assert sorted([t.index for t in targets] + skipped) == list(range(1025))
    assert 18 in skipped and len(targets) > 1000


@pytest.mark.parametrize("options, words", [
    (["--method", "art-square", "--lr", "0.5", "--mirror", "--service", "http://127.0.0.1:9"],
     "--service, --mirror, --lr: only for the zo-* methods; art-square would ignore them"),
    (["--method", "art-square", "--train-images", "7"], "--train-images: only with --universal"),
    (["--method", "zo-adamm", "--in-process", "--batch", "4"], "--batch: only with --universal"),
    (["--method", "zo-adamm", "--in-process", "--universal", "--concurrency", "4"],
     "--concurrency: not with --universal, which fits one perturbation on one session"),
])
def test_the_command_line_refuses_an_option_the_run_would_ignore(options, words):
    """They were accepted and written into the summary as if the run had used them."""
    done = subprocess.run([str(BIN / "zoadamm-worker"), "attack", "--victim", "http://127.0.0.1:9", "--eps", "0.2",
                           "--budget", "100", *options], capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert words in done.stderr and "Traceback" not in done.stderr


def test_outputs_in_folders_not_there_yet_are_written(model_file, tmp_path):
    """An --examples path in a missing folder failed after the whole attack, its records written."""
    records, examples = tmp_path / "new" / "pgd.jsonl", tmp_path / "other" / "deeper" / "pgd"
    settings = AttackSettings(method="pgd", norm="inf", eps=0.2, budget=5, images=2, model=str(model_file))
    run_attack(settings, records, examples)
    assert [row["index"] for row in _rows(records)] == list(np.load(tmp_path / "other" / "deeper" / "pgd.npz")["index"])


def test_an_examples_path_that_cannot_be_written_is_refused_before_any_query(victim_url, tmp_path):
    settings = AttackSettings(method="art-square", norm="inf", eps=0.2, budget=50, images=2, victim=victim_url)
    before = httpx.get(victim_url + "/stats").json()
    folder = tmp_path / "a-folder.npz"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="a-folder.npz"):
        run_attack(settings, tmp_path / "r.jsonl", folder)
    assert httpx.get(victim_url + "/stats").json()["images"] == before["images"]
    assert not (tmp_path / "r.jsonl").exists()


def test_records_to_a_pipe_are_written_and_not_synced(model_file):
    """--records /dev/stdout failed with [Errno 22] Invalid argument (fsync of a pipe), naming no file."""
    done = subprocess.run([str(BIN / "zoadamm-worker"), "attack", "--method", "pgd", "--model", str(model_file),
                           "--images", "2", "--budget", "5", "--eps", "0.2", "--records", "/dev/stdout", "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    *records, summary = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["index"] for row in records] == [0, 1] and summary["attacked"] == 2


def test_the_same_run_again_continues_it_and_adds_to_its_examples(model_file, tmp_path):
    """A rerun attacked the recorded images again, appended duplicate records and overwrote the examples."""
    records, examples = tmp_path / "pgd.jsonl", tmp_path / "pgd.npz"
    settings = AttackSettings(method="pgd", norm="inf", eps=0.2, budget=5, images=2, model=str(model_file))
    first = run_attack(settings, records, examples)
    notes: list[str] = []
    wider = AttackSettings(**{**settings.__dict__, "images": 3})
    second = run_attack(wider, records, examples, note=notes.append)
    assert [row["index"] for row in _rows(records)] == [0, 1, 2]
    assert notes == [f"continuing the run recorded in {records}: 2 of its 3 images are recorded already"]
    assert second["attacked"] == 3 and second["continued"] == 2 and first["continued"] == 0
    saved = np.load(examples)
    assert list(saved["index"]) == [0, 1, 2] and saved["original"].shape == (3, 784)
    third = run_attack(wider, records, examples)
    assert len(_rows(records)) == 3 and third["continued"] == 3
    assert {k: v for k, v in third.items() if k not in ("seconds", "continued")} == \
        {k: v for k, v in second.items() if k not in ("seconds", "continued")}


def test_an_interrupted_run_says_what_it_kept_and_the_same_call_finishes_it(model_file, tmp_path):
    from zoadamm_worker.attack.runner import Interrupted

    records, examples = tmp_path / "pgd.jsonl", tmp_path / "pgd"
    settings = AttackSettings(method="pgd", norm="2", eps=2.0, budget=5, images=4, model=str(model_file))

    def ctrl_c(row: dict) -> None:
        if row["index"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match=rf"the records of 2 images of this run are kept in {records} \(their "
                                          rf"examples in {examples}.npz\); the same command continues it"):
        run_attack(settings, records, examples, progress=ctrl_c)
    assert list(np.load(f"{examples}.npz")["index"]) == [0, 1]
    summary = run_attack(settings, records, examples)
    assert [row["index"] for row in _rows(records)] == [0, 1, 2, 3] and summary["continued"] == 2
    assert list(np.load(f"{examples}.npz")["index"]) == [0, 1, 2, 3]


def test_a_killed_run_keeps_the_examples_of_the_images_its_records_hold(model_file, tmp_path):
    """The examples were written only as the run ended: after a SIGKILL the continued run's file
    held its own images alone."""
    import signal

    records, examples = tmp_path / "pgd.jsonl", tmp_path / "pgd.npz"
    command = [str(BIN / "zoadamm-worker"), "attack", "--method", "pgd", "--model", str(model_file), "--images", "300",
               "--budget", "100", "--eps", "0.2", "--records", str(records), "--examples", str(examples)]
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as process:
        for line in process.stderr:
            if line.startswith("image 1: "):  # two images' records written
                break
        process.send_signal(signal.SIGKILL)
        process.communicate()
    recorded = [row["index"] for row in _rows(records)]
    assert len(recorded) >= 2 and set(recorded) <= set(np.load(examples)["index"].tolist())
    settings = AttackSettings(method="pgd", norm="inf", eps=0.2, budget=100, images=max(recorded) + 2,
                              model=str(model_file))
    notes: list[str] = []
    run_attack(settings, records, examples, note=notes.append)
    assert len(notes) == 1  # continuing; no image lacks its example
    assert np.load(examples)["index"].tolist() == [row["index"] for row in _rows(records)]


def test_records_that_end_in_a_line_cut_short_are_continued_and_reported(model_file, tmp_path):
    """A kill mid-write leaves a last line without its newline: the same command refused the file
    as not JSON, and so did the report, where the records' own reader skips such a line."""
    from zoadamm_worker.attack.report import write_report

    records = tmp_path / "pgd.jsonl"
    settings = AttackSettings(method="pgd", norm="inf", eps=0.2, budget=5, images=3, model=str(model_file))
    whole = run_attack(settings, tmp_path / "whole.jsonl", tmp_path / "whole.npz")
    lines = (tmp_path / "whole.jsonl").read_text().splitlines(keepends=True)
    records.write_text(lines[0] + lines[1][:40])  # the second image's record cut mid-write
    written = write_report([str(records)], [], tmp_path / "report")
    assert "| pgd | ℓ∞ | 0.2 | 5 | 1 |" in written[0].read_text()  # the whole record alone
    summary = run_attack(settings, records, None)
    assert [row["index"] for row in _rows(records)] == [0, 1, 2] and summary["continued"] == 1
    assert [row["success"] for row in _rows(records)] == [row["success"] for row in _rows(tmp_path / "whole.jsonl")]
    assert whole["attacked"] == 3


def test_a_second_run_on_the_same_records_is_refused_while_the_first_runs(model_file, tmp_path):
    """Two runs on one records file attacked the same images and recorded them twice (19 lines for
    12 images), and one died on the other's temporary examples file."""
    from zoadamm_worker.attack.outputs import held

    records = tmp_path / "pgd.jsonl"
    settings = AttackSettings(method="pgd", norm="inf", eps=0.2, budget=5, images=2, model=str(model_file))
    with held(records):  # the first run, still running
        with pytest.raises(ValueError, match=f"another run is writing {records}: wait for it to end"):
            run_attack(settings, records, tmp_path / "pgd.npz")
    assert records.read_text() == "" and not (tmp_path / "pgd.npz").exists()
    run_attack(settings, records, tmp_path / "pgd.npz")  # once it has ended
    assert [row["index"] for row in _rows(records)] == [0, 1]
    # the same examples beside other records: each run rewrites the file whole, so one would lose
    # the other's images (silently, before the hold)
    with held(tmp_path / "other.jsonl", tmp_path / "pgd.npz"):
        with pytest.raises(ValueError, match=f"another run is writing {tmp_path / 'pgd.npz'}: .* another --examples"):
            run_attack(settings, tmp_path / "third.jsonl", tmp_path / "pgd.npz")
    assert not (tmp_path / "third.jsonl").exists()  # refused before its records file was made


def test_a_continued_run_says_which_recorded_images_its_examples_lack(model_file, tmp_path):
    records, examples = tmp_path / "pgd.jsonl", tmp_path / "pgd.npz"
    settings = AttackSettings(method="pgd", norm="inf", eps=0.2, budget=5, images=2, model=str(model_file))
    run_attack(settings, records)  # no --examples the first time
    notes: list[str] = []
    run_attack(AttackSettings(**{**settings.__dict__, "images": 3}), records, examples, note=notes.append)
    assert notes[1] == f"2 of the images recorded already have no examples in {examples} (test images 0, 1): this " \
                       "run adds its own, not theirs"
    assert np.load(examples)["index"].tolist() == [2]


def test_an_interrupted_run_without_records_keeps_nothing_as_it_says(model_file, tmp_path):
    """Ctrl-C said nothing was kept, yet the examples were, and the same command then refused them."""
    from zoadamm_worker.attack.runner import Interrupted

    examples = tmp_path / "pgd.npz"
    settings = AttackSettings(method="pgd", norm="inf", eps=0.2, budget=5, images=3, model=str(model_file))

    def ctrl_c(row: dict) -> None:
        if row["index"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as stopped:
        run_attack(settings, None, examples, progress=ctrl_c)
    assert str(stopped.value) == "2 images were attacked, and nothing is kept without --records"
    assert not examples.exists()
    run_attack(settings, None, examples)  # the same command runs again
    assert np.load(examples)["index"].tolist() == [0, 1, 2]


def test_records_of_the_same_run_with_other_settings_are_not_continued(model_file, tmp_path):
    records = tmp_path / "pgd.jsonl"
    settings = AttackSettings(method="pgd", norm="inf", eps=0.2, budget=5, images=1, model=str(model_file))
    run_attack(settings, records)
    with pytest.raises(ValueError, match=r"pgd.jsonl:1 records image 0 of pgd inf eps 0.2 budget 5 with other "
                                         r"settings \(seed 0 there, 1 here\): give another --records file"):
        run_attack(AttackSettings(**{**settings.__dict__, "seed": 1}), records)
    run_attack(AttackSettings(**{**settings.__dict__, "budget": 6}), records)  # another budget: another run
    assert [(row["budget"], row["index"]) for row in _rows(records)] == [(5, 0), (6, 0)]
    examples = tmp_path / "e.npz"
    run_attack(settings, tmp_path / "fresh.jsonl", examples)
    with pytest.raises(ValueError, match="e.npz exists, and a run without --records cannot continue it"):
        run_attack(settings, None, examples)
    with pytest.raises(ValueError, match="e.npz holds examples of another run"):
        run_attack(AttackSettings(**{**settings.__dict__, "budget": 7}), tmp_path / "other.jsonl", examples)
    # the same settings, another records file: its examples were written over, and the two no longer agreed
    two = AttackSettings(**{**settings.__dict__, "images": 2})
    run_attack(two, tmp_path / "two.jsonl", tmp_path / "two.npz")
    with pytest.raises(ValueError, match=r"two.npz holds examples of test images 0, 1 that \S*three.jsonl does not "
                                         r"record them: it is another run's file"):
        run_attack(two, tmp_path / "three.jsonl", tmp_path / "two.npz")
    assert not (tmp_path / "three.jsonl").exists() or _rows(tmp_path / "three.jsonl") == []


def test_records_made_against_another_victim_are_not_continued(tmp_path):
    """A run continued from records of another victim reported that model's outcomes under the new
    victim's name, and attacked nothing."""
    from zoadamm_worker.attack.outputs import read_earlier, record_settings

    at = {"method": "art-square", "norm": "inf", "eps": 0.2, "budget": 100}
    here, there = (record_settings(AttackSettings(**at, victim=url)) for url in ("http://b:1", "http://a:1"))
    records = tmp_path / "records.jsonl"
    outcome = {"index": 0, "label": 7, "predicted": 1, "success": True, "queries": 5, "linf": 0.2, "l2": 3.0}
    records.write_text(json.dumps({**there, **outcome}) + "\n")
    assert read_earlier(records, None, there).rows.keys() == {0}
    with pytest.raises(ValueError, match=r"with other settings \(victim 'http://a:1' there, 'http://b:1' here\)"):
        read_earlier(records, None, here)
    # one URL however it is written: scheme and host in any case, a trailing slash
    alike = record_settings(AttackSettings(**at, victim="HTTP://A:1/"))
    assert alike == there and read_earlier(records, None, alike).rows.keys() == {0}
    # records written before the victim was recorded continue against the victim given, and a
    # URL recorded as given then reads as it is written now
    legacy = {k: v for k, v in there.items() if k != "victim"}
    records.write_text(json.dumps({**legacy, **outcome}) + "\n")
    assert read_earlier(records, None, here).rows.keys() == {0}
    # and so do their examples, written under the same settings
    for name, settings in (("legacy.npz", legacy), ("upper.npz", {**there, "victim": "HTTP://U:p@A:1"})):
        np.savez(tmp_path / name, run=np.array(json.dumps(settings)), index=[0], label=[7], predicted=[1],
                 success=[True], original=np.zeros((1, 784)), final=np.zeros((1, 784)))
    assert read_earlier(records, tmp_path / "legacy.npz", here).examples is not None
    assert read_earlier(records, tmp_path / "upper.npz", there).examples is not None
    with records.open("a") as more:
        more.write(json.dumps({**there, **outcome, "victim": "HTTP://A:1", "index": 1}) + "\n")
    assert read_earlier(records, None, there).rows.keys() == {0, 1}
    # no user or password in records, which are shared; the password's case as given
    secret = record_settings(AttackSettings(**at, victim="http://Admin:S3cret@A:1/v1/"))
    assert secret["victim"] == "http://a:1/v1"
    assert record_settings(AttackSettings(**at, victim="http://[::1]:8101"))["victim"] == "http://[::1]:8101"
    # a record's URL with no port number (not of this making) reads as written, not as an error
    records.write_text(json.dumps({**there, **outcome, "victim": "http://A:port", "index": 2}) + "\n")
    with pytest.raises(ValueError, match=r"victim 'http://a:port' there"):
        read_earlier(records, None, there)


def test_ctrl_c_on_the_command_line_says_where_the_records_are(model_file, tmp_path):
    import signal

    records = tmp_path / "pgd.jsonl"
    command = [str(BIN / "zoadamm-worker"), "attack", "--method", "pgd", "--model", str(model_file), "--images", "300",
               "--budget", "100", "--eps", "0.2", "--records", str(records)]
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as process:
        assert process.stderr.readline().startswith("image 0: ")  # an image finished: its record is kept
        process.send_signal(signal.SIGINT)
        out, err = process.communicate()
    assert process.returncode == 130 and "Traceback" not in err
    kept = len(_rows(records))
    assert (f"zoadamm-worker: interrupted: the records of {kept} images of this run are kept in {records}; "
            "the same command continues it") in err
    assert err.count("interrupted") == 1, err  # one line says it, not the command's and the runner's both
