"""Schemathesis, every check, against a service process on a real Redis: the OpenAPI description
and the service agree (statuses, bodies, headers, content types, links create -> ask -> tell)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from zoadamm_service.launch import ServiceProcess

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_no_failure(redis_url, tmp_path):
    st = Path(sys.executable).with_name("st")
    with ServiceProcess(redis_url) as service:
        run = subprocess.run(
            [str(st), "--config-file", str(CONFIG), "run", f"{service.url}/openapi.json", "--checks", "all",
             "--max-examples", "40", "--seed", "1", "--phases", "examples,coverage,fuzzing,stateful",
             "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,  # its .schemathesis/ cache goes there
        )
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    assert "passed" in summary and "failed" not in summary.split("SUMMARY")[-1], summary
    assert "API Links:" in run.stdout and " 0 covered" not in run.stdout, summary  # stateful runs used the links
