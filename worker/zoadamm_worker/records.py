"""Record files: one JSON line per epoch or per attacked image, each on disk before the next, so
that a run stopped at any point keeps every line it wrote (and can be continued from them).

A line cut short (the disk filled, the machine stopped mid-write) has no newline at its end: it
is no record.  Reading skips it, and the next append cuts it off first, so that the next line is
not glued onto it.  A last line that is a whole JSON object and lacks only its newline is a
record: reading keeps it, and the next append gives it its newline."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from pathlib import Path
from typing import Any


class RecordError(ValueError):
    """A line of a record file in the middle of it that is no JSON record."""


class UnmatchedRecords(RecordError):
    """Record files that cannot be compared: no FO run was set up like any ZO run among them."""


def append_record(path: str | Path, row: dict) -> None:
    """One JSON line, on disk before the next (its folders made first).  Only a regular file is
    synced: a pipe or a terminal (``--records /dev/stdout``) has no disk to reach, and fsync
    refuses it.

    Raises:
        OSError: naming the file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        regular = path.is_file()  # not a pipe or a terminal: nothing to cut there, nor to sync
        if regular:
            with path.open("r+b") as file:
                _cut_partial_line(file)
        with path.open("ab") as file:
            file.write((json.dumps(row) + "\n").encode())
            file.flush()
            if regular and stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                os.fsync(file.fileno())
    except OSError as error:
        if error.filename is not None or error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


def check_writable(*paths: str | Path | None, options: tuple[str, ...] = ()) -> None:
    """Create the folders of these output files, and refuse a path that is a folder or cannot be
    written, before a run that would write there (not after its first epoch, or image).
    ``options[i]``, where given, is the command-line option of ``paths[i]``, named in the error:
    a command given two paths says which one failed.

    Raises:
        OSError: naming the path (and its option).
    """
    for i, given in enumerate(paths):
        if given is None:
            continue
        try:
            _check_writable(Path(given))
        except OSError as error:
            if i >= len(options) or not error.strerror:
                raise
            raise type(error)(error.errno, f"{options[i]}: {error.strerror}", error.filename) from None


def _check_writable(path: Path) -> None:
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a folder, not a file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        if not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, "cannot be written", str(path))
        return
    # a new file is made and removed: os.access answers yes to root everywhere, /proc included
    with contextlib.suppress(FileExistsError):  # made by another meanwhile: there is a file to write
        path.open("x").close()
        path.unlink()


def claim_new(base: str | Path, suffix: str = "", *, folder: bool = False) -> Path:
    """A new folder (or empty file) ``base`` + ``suffix``, else ``base-2`` + ``suffix``, ``base-3``
    ...: the first name that is free, created here.  Creating it is the test of being free
    (mkdir, or open with O_EXCL), so two processes that ask in the same instant, say for a
    folder named by the second they started in, never get the same one.

    Raises:
        OSError: naming the path, one that cannot be created for another reason than being taken.
    """
    base, n = Path(base), 1
    while True:
        path = base.with_name(base.name + (f"-{n}" if n > 1 else "") + suffix)
        with contextlib.suppress(FileExistsError):
            if folder:
                path.mkdir(parents=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.open("x").close()
            return path
        n += 1


def _cut_partial_line(file) -> None:
    """Drop a last line that has no newline (a write cut short) from ``file``, open to read and
    write; a whole record without its newline (written by hand or by another program) gets one."""
    end = file.seek(0, os.SEEK_END)
    start = end
    while start > 0:
        start = max(0, start - 65536)
        file.seek(start)
        tail = file.read(end - start)
        if tail.endswith(b"\n"):
            return
        newline = tail.rfind(b"\n")
        if newline >= 0 or start == 0:
            if _whole_record(tail[newline + 1:]):
                file.write(b"\n")
            else:
                file.truncate(start + newline + 1)  # 0 for a file that is one line cut short
            return


def _whole_record(line: bytes) -> bool:
    """A line that is a JSON object: a record that only lacks its newline (a line cut short is no
    JSON, or no object)."""
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def text_of(path: Path) -> str:
    """A record file's text (UTF-8), or a RecordError that says the file is not text."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RecordError(f"{path} is not text ({error.reason} at byte {error.start:,}): a record file holds "
                          "JSON lines; move it out of the way") from None


def read_records(path: str | Path) -> list[dict]:
    """The records of ``path`` (none when it does not exist); a last line cut short is skipped.

    Raises:
        RecordError: a line before the last that is no JSON record, naming the file and line.
    """
    return [row for _, row in numbered_records(path)]


def numbered_records(path: str | Path) -> list[tuple[int, Any]]:
    """``read_records`` with each record's line number (from 1), for messages that name it."""
    path = Path(path)
    if not path.exists():
        return []
    text = text_of(path)
    lines = text.split("\n")
    # the part after the last newline is empty, a line cut short, or a record without its newline
    whole = lines if _whole_record(lines[-1].encode()) else lines[:-1]
    rows = []
    for number, line in enumerate(whole, 1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except ValueError as error:
            raise RecordError(f"{path}:{number} is not a JSON record ({error}); remove that line") from None
    return rows
