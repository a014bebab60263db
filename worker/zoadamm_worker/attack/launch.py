"""``zoadamm-worker victim`` as a process of its own, ready once ``/stats`` answers: how the
tests and the comparison scripts start a victim."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zoadamm_service.launch import ChildProcess, free_port


class VictimStartError(RuntimeError):
    """The victim exited or never answered; the message ends with its output."""


@contextmanager
def victim_process(model: str | Path, *, port: int | None = None, max_batch: int | None = None) -> Iterator[str]:
    """Serve ``model`` on a free loopback port; yields the victim's URL, stops it on exit.

    Raises:
        VictimStartError: the process exited or did not answer in time.
    """
    port = port or free_port()
    argv = [str(Path(sys.executable).with_name("zoadamm-worker")), "victim", "--model", str(model),
            "--port", str(port), *(["--max-batch", str(max_batch)] if max_batch else [])]
    with ChildProcess(argv, f"http://127.0.0.1:{port}", "the victim", health="/stats",
                      error=VictimStartError) as victim:
        yield victim.url
