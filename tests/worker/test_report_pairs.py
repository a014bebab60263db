"""Which FO record a ZO record is compared with when a folder holds several runs' records (compose's
volume after run upon run): only an FO run of the same model, start, data and shared update
settings, the one that reached the most of its epochs, the newest of those.  A ZO run of any ZO
method is compared; one that no FO run matches, or that shares no epoch with it, is left out and
said so; with nothing to compare, the report is refused."""

from __future__ import annotations

import json
import os

from cli_support import one_line, run

from zoadamm_worker.report import comparison_rows, pair_records, report_folder

DEFAULTS = {"train_limit": None, "batch_size": 128, "normalize": False, "shuffle": False, "lr": 0.001,
            "normalizer": "v_hat"}


def _write(folder, name: str, method: str, epochs: int, when: float, d: int = 1400, **settings) -> None:
    rows = [{"epoch": e + 1, "method": method, "d": d, "seed": 0, "epochs": epochs, "session": name,
             "train_loss": 2.0 / (e + 1), "test_loss": 2.1 / (e + 1), "test_accuracy": 0.5, "seconds": 1.0,
             "directions": 1, **DEFAULTS, **settings} for e in range(epochs)]
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.utime(path, (when, when))


def test_a_zo_run_is_paired_with_the_fo_run_set_up_like_it(tmp_path):
    _write(tmp_path, "fo-d1400-seed0-zz", "adamm", epochs=1, when=100.0)  # sorts last: another run's
    _write(tmp_path, "fo-d1400-seed0-aa", "adamm", epochs=3, when=50.0)
    _write(tmp_path, "zo-d1400-seed0-mm", "zo-adamm", epochs=3, when=60.0)
    ((name, fo, zo),), notes = pair_records(tmp_path)
    assert name == "zo-d1400-seed0-mm" and fo[0]["session"] == "fo-d1400-seed0-aa" and notes == []


def test_of_fo_runs_set_up_alike_the_newest_counts(tmp_path):
    _write(tmp_path, "fo-b", "adamm", epochs=2, when=20.0)
    _write(tmp_path, "fo-a", "adamm", epochs=2, when=10.0)
    _write(tmp_path, "fo-c", "adamm", epochs=2, when=30.0, d=169196)  # newest, but another model
    _write(tmp_path, "zo", "zo-adamm", epochs=2, when=40.0)
    ((_, fo, _),), _ = pair_records(tmp_path)
    assert fo[0]["session"] == "fo-b"


def test_a_zo_run_without_an_fo_run_of_its_data_is_left_out_and_said(tmp_path):
    """Not the FO run of the same d and seed on other data, as the report used to take."""
    _write(tmp_path, "fo-smoke", "adamm", epochs=1, when=10.0, train_limit=2560)
    _write(tmp_path, "zo-full", "zo-adamm", epochs=3, when=20.0, train_limit=60000)
    _write(tmp_path, "fo-full", "adamm", epochs=3, when=30.0, train_limit=None, lr=0.01)  # all 60,000, another lr
    pairs, (note,) = pair_records(tmp_path)
    assert pairs == []
    assert note == ("zo-full left out: no FO record was run with its settings; the nearest, fo-full, differs in "
                    "lr (0.01 there, 0.001 here)")


def test_a_report_with_nothing_to_compare_is_refused_in_one_line(tmp_path):
    _write(tmp_path, "fo-smoke", "adamm", epochs=1, when=10.0, train_limit=2560)
    _write(tmp_path, "zo-full", "zo-adamm", epochs=3, when=20.0, train_limit=60000)
    line = one_line(run("zoadamm-demo", "--report", str(tmp_path)))
    assert line.startswith(f"zoadamm-demo: {tmp_path} holds nothing to compare: zo-full left out: no FO record was "
                           "run with its settings; the nearest, fo-smoke, differs in train_limit (2,560 there, "
                           "60,000 here)")
    assert not (tmp_path / "table.md").exists()


def test_the_runs_that_match_are_compared_and_the_others_named(tmp_path):
    _write(tmp_path, "fo", "adamm", epochs=2, when=10.0)
    _write(tmp_path, "zo", "zo-adamm", epochs=3, when=20.0, train_limit=60000)  # all of them, as None says
    _write(tmp_path, "zo-batch", "zo-adamm", epochs=2, when=30.0, batch_size=64)
    done = run("zoadamm-demo", "--report", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "zoadamm-demo: zo-batch left out: no FO record was run with its settings; the nearest, fo, differs in "
        "batch_size (128 there, 64 here)",
        "zoadamm-demo: zo is compared over the 2 of its 3 epochs that fo reached"]
    table = (tmp_path / "table.md").read_text()
    assert "# FO against ZO, d = 1,400, q = 1, 60,000 training images" in table and "zo-batch left out" in table
    assert table.count("| 1 | ") == table.count("| 2 | ") == 1 and "| 3 | " not in table


def test_epochs_are_compared_by_their_number(tmp_path):
    """A continued run (--resume) that writes a new file starts it after epoch 1."""
    _write(tmp_path, "fo", "adamm", epochs=3, when=10.0)
    _write(tmp_path, "zo-continued", "zo-adamm", epochs=3, when=20.0)
    path = tmp_path / "zo-continued.jsonl"
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[1:]))  # epochs 2 and 3
    ((_, fo, zo),), notes = pair_records(tmp_path)
    rows = comparison_rows(fo, zo)
    assert [(r["epoch"], r["fo_train_loss"], r["zo_train_loss"]) for r in rows] == [(2, 1.0, 1.0), (3, 2 / 3, 2 / 3)]
    assert notes == []  # both reached every epoch the file holds


def _drop_first_lines(folder, name: str, lines: int) -> None:
    """What a continued run (--resume) that writes a new file leaves: its epochs after the first."""
    path = folder / f"{name}.jsonl"
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[lines:]))


def test_a_zo_run_that_shares_no_epoch_with_its_fo_run_is_left_out(tmp_path):
    """Not a table of no rows and empty plots "compared over the 0 of its 2 epochs"."""
    _write(tmp_path, "fo", "adamm", epochs=2, when=10.0)
    _write(tmp_path, "zo-continued", "zo-adamm", epochs=4, when=20.0)
    _drop_first_lines(tmp_path, "zo-continued", 2)  # epochs 3 and 4
    pairs, notes = pair_records(tmp_path)
    assert pairs == []
    assert notes == ["zo-continued left out: it shares no epoch with fo, the FO record run like it (epochs 1–2 "
                     "there, 3–4 here)"]
    line = one_line(run("zoadamm-demo", "--report", str(tmp_path)))
    assert line.startswith(f"zoadamm-demo: {tmp_path} holds nothing to compare: zo-continued left out: it shares "
                           "no epoch with fo")
    assert not (tmp_path / "table.md").exists() and not (tmp_path / "loss.png").exists()


def test_beside_a_run_that_is_compared_one_that_shares_no_epoch_is_named(tmp_path):
    _write(tmp_path, "fo", "adamm", epochs=2, when=10.0)
    _write(tmp_path, "zo", "zo-adamm", epochs=2, when=20.0)
    _write(tmp_path, "zo-late", "zo-adamm", epochs=5, when=30.0)
    _drop_first_lines(tmp_path, "zo-late", 2)
    text, _, notes = report_folder(tmp_path)
    assert notes == ["zo-late left out: it shares no epoch with fo, the FO record run like it (epochs 1–2 there, "
                     "3–5 here)"]
    assert "(zo-late)" not in text and (tmp_path / "loss.png").exists() and not (tmp_path / "zo-late").exists()


def test_every_zo_method_is_compared_with_the_fo_run_set_up_like_it(tmp_path):
    """zo-sgd, zo-signsgd and zo-adam as zo-adamm: a row each, a table and plots each."""
    _write(tmp_path, "fo", "adamm", epochs=2, when=10.0)
    for method in ("zo-adamm", "zo-sgd", "zo-signsgd", "zo-adam"):
        _write(tmp_path, method, method, epochs=2, when=20.0)
    text, plots, notes = report_folder(tmp_path)
    assert notes == []
    rows = [line for line in text.splitlines() if line.startswith("| zo-")]
    assert [row.split(" | ")[1] for row in rows] == ["zo-adam", "zo-adamm", "zo-sgd", "zo-signsgd"]
    assert rows[0] == "| zo-adam | zo-adam | 1 | 2 | 1.0000 | 1.0000 | 1.00 | 0.0267 | 0.5000 | 0.5000 |"
    for heading in ("# FO against ZO, d = 1,400, q = 1 (zo-adamm)", "# FO against ZO-SGD, d = 1,400, q = 1 (zo-sgd)",
                    "# FO against ZO-signSGD, d = 1,400, q = 1 (zo-signsgd)",
                    "# FO against ZO-Adam, d = 1,400, q = 1 (zo-adam)"):
        assert heading in text
    assert sorted(p.relative_to(tmp_path).as_posix() for p in plots if p.name == "loss.png") == [
        "zo-adam/loss.png", "zo-adamm/loss.png", "zo-sgd/loss.png", "zo-signsgd/loss.png"]


def test_a_second_run_s_report_leaves_no_plot_of_the_first_beside_the_records(tmp_path):
    """A folder's first report (one pair) puts its plots beside the records; once a second ZO run
    is there, each pair's plots go to a subfolder, and the first report's would read as all runs'."""
    _write(tmp_path, "fo", "adamm", epochs=2, when=10.0)
    _write(tmp_path, "zo-1", "zo-adamm", epochs=2, when=20.0)
    _, first, _ = report_folder(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in first) == ["accuracy.png", "k.png", "loss.png"]
    _write(tmp_path, "zo-2", "zo-sgd", epochs=2, when=30.0)
    _, second, _ = report_folder(tmp_path)
    assert sorted(p.parent.name for p in second) == ["zo-1"] * 3 + ["zo-2"] * 3
    assert not any((tmp_path / plot.name).exists() for plot in first)
    assert (tmp_path / "fo.jsonl").exists() and (tmp_path / "table.md").exists()


def test_a_record_of_a_method_the_report_does_not_know_is_named(tmp_path):
    _write(tmp_path, "fo", "adamm", epochs=2, when=10.0)
    _write(tmp_path, "zo-sgd", "zo-sgd", epochs=2, when=20.0)
    _write(tmp_path, "other", "newton", epochs=2, when=30.0)
    pairs, notes = pair_records(tmp_path)
    assert [name for name, _, _ in pairs] == ["zo-sgd"]
    assert notes == ["other left out: its method, newton, is neither adamm (FO) nor a ZO method (zo-adamm, zo-sgd, "
                     "zo-signsgd, zo-adam)"]


def test_an_attacks_records_beside_the_runs_are_no_run(tmp_path):
    """An attack's records carry a method too, but no epoch: no ZO run to leave out."""
    _write(tmp_path, "fo", "adamm", epochs=2, when=10.0)
    _write(tmp_path, "zo", "zo-adamm", epochs=2, when=20.0)
    (tmp_path / "attack.jsonl").write_text(json.dumps({"method": "zo-adamm", "norm": "linf", "eps": 0.2,
                                                       "budget": 1000, "seed": 0, "index": 3}) + "\n")
    pairs, notes = pair_records(tmp_path)
    assert [name for name, _, _ in pairs] == ["zo"] and notes == []
