"""Record files: one JSON line per epoch or per attacked image, each on disk before the next, so
that a run stopped at any point keeps every line it wrote (and can be continued from them)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path


def append_record(path: str | Path, row: dict) -> None:
    """One JSON line, on disk before the next (its folders made first).  Only a regular file is
    synced: a pipe or a terminal (``--records /dev/stdout``) has no disk to reach, and fsync
    refuses it.

    Raises:
        OSError: naming the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.write(json.dumps(row) + "\n")
        file.flush()
        try:
            if stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                os.fsync(file.fileno())
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(path)) from error


def read_records(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
