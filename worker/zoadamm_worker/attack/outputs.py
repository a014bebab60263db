"""Where an attack run writes: its records (one JSON line per image, appended as each image
ends) and its examples (an ``.npz``), both checked before the run's first query, so that a path
that cannot be written fails at once rather than after the attack.

A run whose records already hold images of the same settings continues that run: those images
are not attacked again (an interrupted run's command, run again, finishes it), and its examples
are added to the file's, not written over them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ..records import RecordError, numbered_records
from .record_check import record_flaw
from .zo_settings import DEFAULT_LR, ZO_METHODS


def examples_path(path: str | Path) -> Path:
    """The file ``--examples`` names: ``.npz`` appended unless it is there, as numpy names it."""
    path = Path(path)
    return path if path.name.endswith(".npz") else path.with_name(path.name + ".npz")


def save_arrays(path: str | Path, **arrays: Any) -> None:
    """``arrays`` as a compressed ``.npz`` at exactly ``path``.  A regular file is written beside
    and renamed into place: an interrupted write leaves the earlier file whole."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a device or a pipe: written as it is
        with open(path, "wb") as file:
            np.savez_compressed(file, **arrays)
        return
    part = path.with_name(f".{path.name}.{os.getpid()}.part")  # this process's: two runs never share one
    try:
        with open(part, "wb") as file:
            np.savez_compressed(file, **arrays)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


@contextlib.contextmanager
def held(records: str | Path | None, examples: Path | None = None) -> Iterator[None]:
    """The run's hold on its records and examples files, for as long as it runs: a second run on
    the same records would attack the same images and record them twice, and one on the same
    examples would write over the other's (each rewrites the file whole).  The examples' hold is
    a file ``.NAME.lock`` beside them, as they are replaced by a rename, not written in place.

    Raises:
        ValueError: another run holds one of them.
    """
    with contextlib.ExitStack() as stack:
        # the examples' first: a run refused for them leaves no empty records file behind
        for lock, given, option in ((None if examples is None else _lock_of(examples), examples, "--examples"),
                                    (records, records, "--records")):
            if lock is None or (Path(lock).exists() and not Path(lock).is_file()):  # a pipe: nothing to hold
                continue
            file = stack.enter_context(open(lock, "a"))  # noqa: SIM115 - held until the stack closes
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValueError(f"another run is writing {given}: wait for it to end (the same command then "
                                 f"continues what it recorded), or give another {option} file") from None
        yield  # the locks end with the files' closing


def _lock_of(examples: Path) -> Path | None:
    return None if examples.exists() and not examples.is_file() else examples.with_name(f".{examples.name}.lock")


def same_url(url: str) -> str:
    """``url`` as records keep and compare it: scheme and host in lower case, no user or password
    (records are shared), no trailing slash."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    try:
        netloc = host + (f":{parts.port}" if parts.port is not None else "")
    except ValueError:  # no port number (a record's text of another making): the host as written
        netloc = parts.netloc.rpartition("@")[2].lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))


def recorded_victim(row: dict) -> str | None:
    """A record's victim URL as this version writes it (None: a record made before it was kept)."""
    return same_url(row["victim"]) if isinstance(row.get("victim"), str) else None


def record_settings(settings: Any) -> dict:
    """The settings every record carries (of ``settings``, the run's ``runner.AttackSettings``):
    those that decide an image's attack (not where its session lives, nor how many run at once),
    so that a run is continued only with the same."""
    run = {"method": settings.method, "norm": settings.norm, "eps": settings.eps, "budget": settings.budget,
           "seed": settings.seed}
    if settings.victim is not None:  # another victim's records are another model's outcomes
        run["victim"] = same_url(settings.victim)
    if settings.method in ZO_METHODS:
        run.update(lr=settings.lr or DEFAULT_LR[settings.norm][settings.method], mu=settings.mu,
                   directions=settings.directions)
    return run


EXAMPLES = ("index", "label", "predicted", "success", "original", "final")


@dataclass
class Earlier:
    """What an earlier run of the same settings left: its records by image, and the arrays of its
    examples file (None without one)."""

    rows: dict[int, dict] = field(default_factory=dict)
    examples: dict[str, np.ndarray] | None = None


def read_earlier(records: str | Path | None, examples: Path | None, run: dict) -> Earlier:
    """The records in ``records`` of the run ``run`` (the settings every record carries), and its
    examples in ``examples``.  Records of other methods, norms, radii or budgets are another
    run's and are left alone.

    Raises:
        ValueError: a line that is not JSON; records of this method, norm, eps and budget made
            with other settings (they would be counted as this run's); an examples file of
            another run, or one that cannot be continued without records.
    """
    earlier = Earlier()
    if records is not None and Path(records).is_file():
        try:  # a last line cut short (a kill mid-write) is skipped here, and cut off by the next append
            numbered = numbered_records(records)
        except RecordError as error:
            raise ValueError(f"{error}: give records of attack --records to continue, or another file") from None
        for number, row in numbered:
            if not isinstance(row, dict) or any(row.get(key) != run[key] for key in ("method", "norm", "eps",
                                                                                      "budget")):
                continue
            if flaw := record_flaw(row):
                raise ValueError(f"{records}:{number}: {flaw}: give records of attack --records as it wrote them")
            # records written before the victim was recorded continue against any victim, and a
            # victim's URL as an earlier version wrote it reads as this one writes it
            if (victim := recorded_victim(row)) is not None:
                row = {**row, "victim": victim}
            differ = [f"{key} {row[key]!r} there, {value!r} here" if key in row else f"no {key} there"
                      for key, value in run.items() if row.get(key) != value and (key != "victim" or key in row)]
            if differ:
                raise ValueError(f"{records}:{number} records image {row.get('index')} of {run['method']} "
                                 f"{run['norm']} eps {run['eps']:g} budget {run['budget']} with other settings "
                                 f"({', '.join(differ)}): give another --records file, or the same settings "
                                 "to continue that run")
            earlier.rows[row["index"]] = row
    if examples is not None and examples.is_file():
        with np.load(examples, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        if records is None:
            raise ValueError(f"{examples} exists, and a run without --records cannot continue it: give --records "
                             "too, or another --examples file")
        if "run" not in arrays or not _same_run(json.loads(str(arrays["run"])), run) or \
                any(n not in arrays for n in EXAMPLES):
            raise ValueError(f"{examples} holds examples of another run (or of no run this version wrote): "
                             "give another --examples file")
        _check_examples_of(examples, arrays, records, earlier.rows)
        earlier.examples = arrays
    return earlier


def _same_run(stored: dict, run: dict) -> bool:
    """Whether the settings an examples file was written under are ``run``'s, read as its records
    are: a victim's URL as an earlier version wrote it, or none (written before it was kept)."""
    if not isinstance(stored, dict):
        return False
    if (victim := recorded_victim(stored)) is not None:
        stored = {**stored, "victim": victim}
    elif "victim" not in stored:
        run = {key: value for key, value in run.items() if key != "victim"}
    return stored == run


def _check_examples_of(examples: Path, arrays: dict, records, rows: dict[int, dict]) -> None:
    """Raises ValueError unless the examples ``arrays`` are of the run whose records are ``rows``:
    each image they hold is recorded with the same label, prediction and success, but at most one
    (a run killed between an image's example and its record has one example more)."""
    unrecorded, differing = [], []
    for at, index in enumerate(arrays["index"].tolist()):
        row = rows.get(index)
        if row is None:
            unrecorded.append(index)
        elif any(row[name] != arrays[name][at].item() for name in ("label", "predicted", "success")):
            differing.append(index)
    if len(unrecorded) > 1 or differing:
        images = ", ".join(map(str, (differing or unrecorded)[:5]))
        why = "records them otherwise" if differing else "does not record them"
        raise ValueError(f"{examples} holds examples of test images {images} that {records} {why}: it is another "
                         "run's file; give another --examples file (or that run's --records)")


def save_examples(path: Path, run: dict, rows: list[dict], finals: dict, earlier: dict | None) -> None:
    """The examples file of ``run``: each image's record fields and its original and final image
    (``finals``: index -> (original, final)), after those ``earlier`` held of other images."""
    entries = {}
    if earlier is not None:
        for at, index in enumerate(earlier["index"].tolist()):
            entries[index] = {name: earlier[name][at] for name in EXAMPLES}
    for row in rows:
        if row["index"] in finals:
            original, final = finals[row["index"]]
            entries[row["index"]] = {"index": row["index"], "label": row["label"], "predicted": row["predicted"],
                                     "success": row["success"], "original": original, "final": final}
    indices = sorted(entries)
    save_arrays(path, run=np.array(json.dumps(run)),
                **{name: np.array([entries[i][name] for i in indices]) for name in EXAMPLES})


def missing_examples(rows: list[dict], examples: Path | None, earlier: Earlier) -> str | None:
    """A line naming the recorded images ``rows`` whose examples the file ``examples`` lacks (an
    earlier run made without --examples): a continued run adds its own, not theirs."""
    if examples is None:
        return None
    held = set() if earlier.examples is None else set(earlier.examples["index"].tolist())
    missing = [row["index"] for row in rows if row["index"] not in held]
    if not missing:
        return None
    shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
    return (f"{len(missing)} of the images recorded already have no examples in {examples} (test images {shown}): "
            "this run adds its own, not theirs")
