"""Progress output when stderr is not a terminal (a log file, a pipe, compose's output): a line
per epoch, never a bar redrawn with carriage returns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from zoadamm_worker.demo import local_service

BIN = Path(sys.executable).parent


def test_a_piped_worker_prints_a_line_per_epoch(tmp_path):
    epochs = 3
    with local_service() as url:
        done = subprocess.run(
            [str(BIN / "zoadamm-worker"), "mnist", "--epochs", str(epochs), "--train-limit", "1280",
             "--service", url, "--record", str(tmp_path / "zo.jsonl")],
            capture_output=True, text=True)  # stderr is a pipe
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) <= 2 * epochs, done.stderr
    assert [line for line in lines if "epoch" in line] == [
        line for line in lines if line.startswith("ZO q=1 d=1,400 epoch")]
    assert len([line for line in lines if "epoch" in line]) == epochs
    assert json.loads(done.stdout.strip().splitlines()[-1])["epoch"] == epochs
