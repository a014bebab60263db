"""Where an attack run writes: its records (one JSON line per image, appended as each image
ends) and its examples (an ``.npz``), both checked before the run's first query, so that a path
that cannot be written fails at once rather than after the attack."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np


def examples_path(path: str | Path) -> Path:
    """The file ``--examples`` names: ``.npz`` appended unless it is there, as numpy names it."""
    path = Path(path)
    return path if path.name.endswith(".npz") else path.with_name(path.name + ".npz")


def prepare(*paths: str | Path | None) -> None:
    """Create the folders of the output files (as the records always were), and refuse a path that
    is a folder or cannot be written, before anything is asked of the victim.

    Raises:
        OSError: naming the path.
    """
    for given in paths:
        if given is None:
            continue
        path = Path(given)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder, not a file", str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        target = path if path.exists() else path.parent
        if not os.access(target, os.W_OK):
            raise PermissionError(errno.EACCES, "cannot be written", str(target))


def append_row(path: str | Path, row: dict) -> None:
    """One JSON line, on disk before the next image's.  Only a regular file is synced: a pipe or
    a terminal (``--records /dev/stdout``) has no disk to reach, and fsync refuses it.

    Raises:
        OSError: naming the file.
    """
    with open(path, "a") as file:
        file.write(json.dumps(row) + "\n")
        file.flush()
        try:
            if stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                os.fsync(file.fileno())
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(path)) from error


def save_arrays(path: str | Path, **arrays: Any) -> None:
    """``arrays`` as a compressed ``.npz`` at exactly ``path``.  A regular file is written beside
    and renamed into place: an interrupted write leaves the earlier file whole."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a device or a pipe: written as it is
        with open(path, "wb") as file:
            np.savez_compressed(file, **arrays)
        return
    part = path.with_name(f".{path.name}.part")
    try:
        with open(part, "wb") as file:
            np.savez_compressed(file, **arrays)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
