"""The scripts that make the committed attack results (`make attack` runs zo.sh), run small: every
method's runs and the report, where a change to the command's options once stopped them at
their first run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from zoadamm_service.launch import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, out: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "results" / "attack" / script)], capture_output=True, text=True,
                          env={**os.environ, "OUT": str(out), **env})


def test_zo_sh_runs_every_kind_of_method_and_reports(tmp_path):
    done = run("zo.sh", tmp_path, IMAGES="2", BUDGET="40", METHODS="pgd art-zoo zo-sgd", UNIVERSAL="0",
               VICTIM_PORT=str(free_port()), SERVICE_PORT=str(free_port()), BIN=str(ROOT / ".venv" / "bin"))
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "table.md").read_text()
    for method in ("pgd", "art-zoo", "zo-sgd"):
        for norm in ("linf", "l2"):
            assert (tmp_path / f"{method}-{norm}.jsonl").read_text().count("\n") >= 1, (method, norm)
        assert method in table


def test_peers_sh_runs_and_reports(tmp_path):
    done = run("peers.sh", tmp_path, IMAGES="1", BUDGET="20", PORT=str(free_port()))
    assert done.returncode == 0, done.stderr[-3000:]
    assert {"pgd-linf.jsonl", "art-square-l2.jsonl", "art-zoo-linf.jsonl", "table.md"} <= {
        p.name for p in tmp_path.iterdir()}
