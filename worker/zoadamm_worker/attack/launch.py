"""``zoadamm-worker victim`` as a process of its own, ready once ``/stats`` answers: how the
tests and the comparison scripts start a victim."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from zoadamm_service.launch import free_port

STARTUP_TIMEOUT_S = 120.0  # a guard against a victim that never comes up (it imports torch)


class VictimStartError(RuntimeError):
    """The victim exited or never answered; the message ends with its output."""


@contextmanager
def victim_process(model: str | Path, *, port: int | None = None, max_batch: int | None = None) -> Iterator[str]:
    """Serve ``model`` on a free loopback port; yields the victim's URL, stops it on exit.

    Raises:
        VictimStartError: the process exited or did not answer in time.
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(Path(sys.executable).with_name("zoadamm-worker")), "victim", "--model", str(model),
            "--port", str(port), *(["--max-batch", str(max_batch)] if max_batch else [])]
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_until_up(url, process, output)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, output) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(url + "/stats", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    output.seek(0)
    raise VictimStartError(f"the victim did not start on {url}:\n{output.read()[-3000:]}")
