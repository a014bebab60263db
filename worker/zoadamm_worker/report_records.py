"""The epoch record files the FO-against-ZO report reads (the MNIST worker's ``--record``), and
what it makes of them: each line checked before a number of it is used, and an epoch a file
holds more than once counted once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from zoadamm.methods import METHOD_TABLE

from .records import RecordError, numbered_records

FO_METHOD = "adamm"
ZO_METHODS = tuple(name for name, method in METHOD_TABLE.items() if method.takes == "values")

# What the report reads of every epoch record, and what each must be for its arithmetic
_NUMBER = ((int, float), "a number")
FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "method": (str, "a string"), "epoch": (int, "an integer"), "d": (int, "a positive integer"),
    "train_loss": _NUMBER, "test_loss": _NUMBER, "test_accuracy": _NUMBER, "seconds": _NUMBER,
}
# What makes an epoch record's run (the MNIST worker writes them from its ``RunSpec``): two
# records that differ here are two runs' (an edited preset, another lr, another method).  Not the
# epochs or max_steps, which a run continued in pieces or to more epochs changes, nor the
# session, which a run started over with the same --record changes.
RUN_FIELDS = ("method", "scale", "directions", "difference", "distribution", "normalizer", "seed",
              "session_seed", "lr", "mu", "batch_size", "train_limit", "normalize", "shuffle")
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


def epoch_records(path: Path) -> list[dict]:
    """The records of ``path`` when it is an epoch record file (its first record has a method and
    an epoch), else [] (an attack's records, another tool's file).

    Raises:
        RecordError: naming the file and line, as ``read_records`` does for a line that is no
            JSON: a line that is JSON but no object, in any record file; in an epoch record
            file, a record that lacks a field the report reads (``FIELDS``) or holds another kind
            of value there.
    """
    numbered = numbered_records(path)
    for line, record in numbered:
        if not isinstance(record, dict):
            raise RecordError(f"{path}:{line} is not a JSON record ({_JSON_KINDS[type(record)]}, not "
                              "an object); remove that line")
    records = [record for _, record in numbered]
    if not records or not {"method", "epoch"} <= records[0].keys():
        return []
    for line, record in numbered:
        if flaw := _flaw(record):
            raise RecordError(f"{path}:{line} is not an epoch record ({flaw}); remove that line")
        if differ := other_run(records[0], record):  # a file's epochs compared as one run's
            raise RecordError(f"{path}:{line} is a record of another run than line {numbered[0][0]}'s "
                              f"({differ}); one file holds one run: move that run's lines to a file of its own")
    return records


def other_run(first: dict, record: dict) -> str:
    """"" when ``record`` is of ``first``'s run, else the ``RUN_FIELDS`` in which it is not, as
    "method 'adamm' there, 'zo-adamm' here" (a field either lacks is not compared)."""
    return ", ".join(f"{key} {first[key]!r} there, {record[key]!r} here" for key in RUN_FIELDS
                     if key in first and key in record and first[key] != record[key])


def check_one_run(path: str | Path, settings: dict) -> None:
    """Before a run that appends its epoch records to ``path``: refuse a file that holds another
    run's (a report would take the two runs' epochs for one run's).

    Raises:
        RecordError: naming the settings that differ, and what to do.
    """
    path = Path(path)
    if not path.is_file():
        return
    earlier = [record for _, record in numbered_records(path) if isinstance(record, dict) and "epoch" in record]
    if earlier and (differ := other_run(earlier[-1], settings)):
        raise RecordError(f"{path} holds the epoch records of another run ({differ}); one file holds one "
                          "run: give this run another --record, or --record-dir")


def _flaw(record: dict) -> str | None:
    for key, (kinds, kind) in FIELDS.items():
        if key not in record:
            return f"it has no {key}"
        value = record[key]
        # bool is an int to Python, not to JSON; a d of 0 would divide k by 0
        if isinstance(value, bool) or not isinstance(value, kinds) or (key == "d" and record[key] <= 0):
            return f"its {key} is {json.dumps(value)}, not {kind}"
    return None


def by_epoch(records: list[dict]) -> dict[int, dict]:
    """Each epoch's last record: a file holds an epoch twice when a later run recorded it again
    into it (a run started over with the same ``--record``), and the later is the run that stands."""
    return {r["epoch"]: r for r in records}


def repeated_epochs(records: list[dict]) -> set[int]:
    return {epoch for epoch, count in Counter(r["epoch"] for r in records).items() if count > 1}


def span(epochs: set[int]) -> str:
    """Epochs as runs of consecutive numbers: "1–3, 5" for {1, 2, 3, 5}."""
    runs: list[list[int]] = []
    for epoch in sorted(epochs):
        if runs and epoch == runs[-1][-1] + 1:
            runs[-1].append(epoch)
        else:
            runs.append([epoch])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)
