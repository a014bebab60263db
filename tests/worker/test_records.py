"""Record files: a line cut short (a full disk, a stop mid-write) is skipped when read and cut
off before the next append, a line that is no record names its file and line, a write that
fails names its file, and the MNIST worker says a record it cannot write before it trains."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from zoadamm_worker.records import RecordError, append_record, read_records

WORKER = str(Path(sys.executable).with_name("zoadamm-worker"))


def test_a_line_cut_short_is_skipped_and_cut_off_before_the_next(tmp_path):
    path = tmp_path / "r.jsonl"
    append_record(path, {"epoch": 1})
    with path.open("ab") as file:
        file.write(b'{"epoch": 2, "test_lo')  # the disk filled here
    assert read_records(path) == [{"epoch": 1}]
    append_record(path, {"epoch": 2})
    assert path.read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    only_cut = tmp_path / "cut.jsonl"
    only_cut.write_bytes(b'{"epoch"')
    append_record(only_cut, {"epoch": 1})
    assert read_records(only_cut) == [{"epoch": 1}]


def test_a_whole_record_without_its_newline_is_kept_and_given_one(tmp_path):
    """A file written by hand or by another program may end without a newline: its last record
    was skipped as cut short, and the next append cut it off."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2}')
    assert read_records(path) == [{"epoch": 1}, {"epoch": 2}]
    append_record(path, {"epoch": 3})
    assert path.read_text() == '{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3}\n'


def test_a_line_that_is_no_record_names_its_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2, "te{"epoch": 3}\n')
    with pytest.raises(RecordError, match=rf"{path}:2 is not a JSON record"):
        read_records(path)


def test_a_write_that_fails_names_its_file():  # /dev/full: every write to it fills the disk
    with pytest.raises(OSError) as failed:
        append_record("/dev/full", {"epoch": 1})
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == "/dev/full"


def test_the_mnist_worker_says_a_record_it_cannot_write_before_it_trains(tmp_path):
    (tmp_path / "a-file").write_text("")
    started = subprocess.run([WORKER, "mnist", "--train-limit", "128", "--record", str(tmp_path / "a-file" / "r.jsonl"),
                              "--service", "http://127.0.0.1:1"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 1 and "Traceback" not in started.stderr
    assert "a-file" in started.stderr and "cannot reach" not in started.stderr, started.stderr


def test_the_mnist_worker_refuses_a_record_file_of_another_run_before_it_trains(tmp_path):
    """A ZO run given the FO run's --record appended its epochs there, and the report then took
    them for the FO run's; a run started over with its own settings appends as before."""
    from zoadamm_service.launch import local_service

    record = tmp_path / "fo.jsonl"
    append_record(record, {"epoch": 1, "method": "adamm", "d": 1400, "train_limit": 512, "seed": 0})
    with local_service() as url:
        started = subprocess.run([WORKER, "mnist", "--method", "zo-adamm", "--train-limit", "256", "--record",
                                  str(record), "--service", url, "--quiet"], capture_output=True, text=True,
                                 timeout=300)
    assert started.returncode == 1 and "Traceback" not in started.stderr
    assert (
        f"{record} holds the epoch records of another run (method 'adamm' there, 'zo-adamm' here, train_limit 512 "
        "there, 256 here); one file holds one run: give this run another --record, or --record-dir") in started.stderr
    assert len(read_records(record)) == 1  # nothing appended
