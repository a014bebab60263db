"""What the FO-against-ZO report makes of record files that are not one clean run each: an epoch
recorded twice, an FO train loss of 0, a damaged line.  Each is said, or refused in one line
that names the file and line, never a traceback nor a table that counts a record twice."""

from __future__ import annotations

import json

import pytest
from cli_support import one_line, run

from zoadamm_worker.records import RecordError
from zoadamm_worker.report import comparison_rows, markdown_table, report_folder

SETTINGS = {"d": 1400, "seed": 0, "directions": 1, "train_limit": None, "batch_size": 128, "normalize": False,
            "shuffle": False, "lr": 0.001, "normalizer": "v_hat", "test_loss": 2.1, "test_accuracy": 0.5,
            "seconds": 1.0}


def _record(epoch: int, method: str, train_loss: float | None = None) -> dict:
    return {**SETTINGS, "epoch": epoch, "method": method,
            "train_loss": 2.0 / epoch if train_loss is None else train_loss}


def _write(path, *lines) -> None:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


def test_an_epoch_recorded_twice_counts_once_by_its_last_record(tmp_path):
    """A run started over with the same --record appends an epoch the file holds already: the
    table has it once, the later run's, and the epochs are counted, not the records."""
    _write(tmp_path / "fo.jsonl", *(_record(e, "adamm") for e in (1, 2, 3)))
    _write(tmp_path / "zo.jsonl", _record(1, "zo-adamm"), _record(2, "zo-adamm", 5.0),
           _record(2, "zo-adamm", 0.5), _record(3, "zo-adamm"))
    text, _, notes = report_folder(tmp_path)
    assert notes == ["zo holds epoch 2 more than once (recorded again by a later run): the last record of each "
                     "epoch is compared"]
    assert text.count("| 2 | ") == 1 and "| 2 | 1.0000 | 2.1000 | 0.5000 | 0.5000 | 2.1000 | 0.5000 | 0.50 |" in text
    assert notes[0] in (tmp_path / "table.md").read_text()


def test_epochs_recorded_twice_in_the_fo_file_and_out_of_order_are_compared_in_order():
    fo = [_record(2, "adamm", 9.0), _record(1, "adamm"), _record(2, "adamm", 1.0), _record(3, "adamm")]
    zo = [_record(3, "zo-adamm"), _record(1, "zo-adamm"), _record(2, "zo-adamm")]
    rows = comparison_rows(fo, zo)
    assert [(r["epoch"], r["fo_train_loss"]) for r in rows] == [(1, 2.0), (2, 1.0), (3, 2 / 3)]


def test_a_short_fo_run_with_a_repeated_epoch_counts_the_zo_runs_epochs(tmp_path):
    _write(tmp_path / "fo.jsonl", *(_record(e, "adamm") for e in (1, 2)))
    _write(tmp_path / "zo.jsonl", *(_record(e, "zo-adamm") for e in (1, 2, 2, 3)))
    _, _, notes = report_folder(tmp_path)
    assert notes[-1] == "zo is compared over the 2 of its 3 epochs that fo reached"


# nor a plot that warns; objects other tests left behind may be finalized meanwhile (their
# warnings come as unraisable exceptions): those are not this plot's
@pytest.mark.filterwarnings("error", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_fo_train_loss_of_0_makes_the_ratio_undefined(tmp_path):
    _write(tmp_path / "fo.jsonl", _record(1, "adamm", 0.0), _record(2, "adamm", 0.5))
    _write(tmp_path / "zo.jsonl", _record(1, "zo-adamm", 1.0), _record(2, "zo-adamm", 1.0))
    text, plots, _ = report_folder(tmp_path)
    assert "| 1 | 0.0000 | 2.1000 | 0.5000 | 1.0000 | 2.1000 | 0.5000 | undefined | undefined | 1.0 | 1.0 |" in text
    assert "| 2 | 0.5000 | 2.1000 | 0.5000 | 1.0000 | 2.1000 | 0.5000 | 2.00 | 0.0535 |" in text
    assert [p.name for p in plots] == ["loss.png", "accuracy.png", "k.png"]


@pytest.mark.filterwarnings("error", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_losses_of_0_alone_are_plotted(tmp_path):
    """k undefined at every epoch, and no positive loss for a log axis."""
    zero = {"train_loss": 0.0, "test_loss": 0.0}
    _write(tmp_path / "fo.jsonl", *({**_record(e, "adamm"), **zero} for e in (1, 2)))
    _write(tmp_path / "zo.jsonl", *({**_record(e, "zo-adamm"), **zero} for e in (1, 2)))
    _, plots, _ = report_folder(tmp_path)
    assert all(p.stat().st_size > 0 for p in plots)


def test_a_train_loss_that_is_not_a_number_makes_the_ratio_undefined():
    """A continued run reports an epoch whose steps it did not take with a NaN train loss."""
    rows = comparison_rows([_record(1, "adamm", float("nan"))], [_record(1, "zo-adamm", 1.0)])
    assert rows[0]["loss_ratio"] is None and rows[0]["k"] is None
    assert "| nan | 2.1000 | 0.5000 | 1.0000 | 2.1000 | 0.5000 | undefined | undefined |" in markdown_table(rows)


def test_a_json_line_that_is_no_object_is_refused_in_one_line(tmp_path):
    _write(tmp_path / "fo.jsonl", _record(1, "adamm"), "", _record(2, "adamm"), "[1, 2]")
    _write(tmp_path / "zo.jsonl", *(_record(e, "zo-adamm") for e in (1, 2)))
    line = one_line(run("zoadamm-demo", "--report", str(tmp_path)))
    assert line.startswith(f"zoadamm-demo: {tmp_path / 'fo.jsonl'}:4 is not a JSON record (an array, not an object); "
                           "remove that line")
    assert not (tmp_path / "table.md").exists()


@pytest.mark.parametrize("command", [["zoadamm-demo", "--report"], ["zoadamm-experiments", "analyze"]])
def test_a_record_file_that_is_not_text_is_said_so_in_one_line(tmp_path, command):
    """Binary bytes in a *.jsonl gave a UnicodeDecodeError's traceback."""
    (tmp_path / "x.jsonl").write_bytes(b"\x00\xff\xfe binary\n")
    line = one_line(run(*command, str(tmp_path)))
    assert line.startswith(f"{command[0]}: {tmp_path / 'x.jsonl'} is not text (invalid start byte at byte 1): "
                           "a record file holds JSON lines"), line


def test_a_json_line_that_analyze_cannot_read_is_a_record_error(tmp_path):
    """Its own message came under a traceback: a ValueError, not the RecordError the commands
    say in one line."""
    from zoadamm_worker.experiments.records import load_runs

    (tmp_path / "y.jsonl").write_text("[1, 2]\n")
    with pytest.raises(RecordError, match=r"y.jsonl:1 is no epoch record of a run \(it lacks epoch, method"):
        load_runs(tmp_path)


@pytest.mark.parametrize(("line", "says"), [
    ("3", "1 is not a JSON record (a number, not an object)"),
    ('"text"', "1 is not a JSON record (a string, not an object)"),
    ("null", "1 is not a JSON record (null, not an object)"),
])
def test_a_first_line_that_is_no_object_is_refused(tmp_path, line, says):
    _write(tmp_path / "a.jsonl", line)
    with pytest.raises(RecordError) as refused:
        report_folder(tmp_path)
    assert str(refused.value) == f"{tmp_path / 'a.jsonl'}:{says}; remove that line"


@pytest.mark.parametrize(("change", "says"), [
    ({"train_loss": None}, 'its train_loss is null, not a number'),
    ({"test_accuracy": "0.9"}, 'its test_accuracy is "0.9", not a number'),
    ({"epoch": 2.5}, "its epoch is 2.5, not an integer"),
    ({"d": 0}, "its d is 0, not a positive integer"),
    ({"seconds": True}, "its seconds is true, not a number"),
])
def test_an_epoch_record_without_a_number_the_report_reads_is_refused(tmp_path, change, says):
    _write(tmp_path / "fo.jsonl", *(_record(e, "adamm") for e in (1, 2)))
    _write(tmp_path / "zo.jsonl", _record(1, "zo-adamm"), {**_record(2, "zo-adamm"), **change})
    with pytest.raises(RecordError) as refused:
        report_folder(tmp_path)
    assert str(refused.value) == f"{tmp_path / 'zo.jsonl'}:2 is not an epoch record ({says}); remove that line"


def test_an_epoch_record_that_lacks_a_field_is_refused(tmp_path):
    _write(tmp_path / "fo.jsonl", _record(1, "adamm"), {k: v for k, v in _record(2, "adamm").items() if k != "seconds"})
    _write(tmp_path / "zo.jsonl", *(_record(e, "zo-adamm") for e in (1, 2)))
    line = one_line(run("zoadamm-demo", "--report", str(tmp_path)))
    assert f"{tmp_path / 'fo.jsonl'}:2 is not an epoch record (it has no seconds); remove that line" in line


def test_a_last_record_without_its_newline_that_lacks_a_field_is_named_by_its_line(tmp_path):
    """Such a line is a record now (records.py); the report's own line count left it out, an
    IndexError traceback instead of the one line naming it."""
    from zoadamm_worker.report_records import epoch_records

    path = tmp_path / "fo.jsonl"
    whole = {"epoch": 1, "method": "adamm", "d": 1400, "train_loss": 0.5, "test_loss": 0.4,
             "test_accuracy": 0.9, "seconds": 1.0, "evaluations": 469}
    second = {key: value for key, value in whole.items() if key != "seconds"} | {"epoch": 2}
    path.write_text(json.dumps(whole) + "\n\n" + json.dumps(second))  # a blank line, and no newline at the end
    with pytest.raises(RecordError, match=f"{path}:3 is not an epoch record"):
        epoch_records(path)


def test_a_file_that_holds_two_runs_records_is_refused_naming_the_line(tmp_path):
    """A ZO run recorded into the FO run's file: the report took its epoch for the FO run's (the
    last record of an epoch counts) and printed the ZO run's losses in the FO column."""
    zo_on_fewer_images = {**_record(1, "zo-adamm"), "train_limit": 256}
    _write(tmp_path / "fo.jsonl", _record(1, "adamm"), _record(2, "adamm"), zo_on_fewer_images)
    _write(tmp_path / "zo.jsonl", *(_record(e, "zo-adamm") for e in (1, 2)))
    with pytest.raises(RecordError) as refused:
        report_folder(tmp_path)
    assert str(refused.value) == (
        f"{tmp_path / 'fo.jsonl'}:3 is a record of another run than line 1's (method 'adamm' there, 'zo-adamm' "
        "here, train_limit None there, 256 here); one file holds one run: move that run's lines to a file of its own")
    assert not (tmp_path / "table.md").exists()
