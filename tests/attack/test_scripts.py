"""The scripts that make the committed attack results (`make attack` runs zo.sh), run small: every
method's runs and the report, where a change to the command's options once stopped them at
their first run; and what they do when their processes cannot start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from zoadamm_service.launch import free_port

ROOT = Path(__file__).resolve().parents[2]
ZO_RECORD = {"method": "zo-adamm", "norm": "inf", "eps": 0.2, "budget": 40, "seed": 0, "lr": 0.02, "mu": 0.005,
             "directions": 10, "index": 0, "label": 7, "success": True, "queries": 30, "spent": 30, "linf": 0.2,
             "l2": 3.0, "margin": -0.1, "predicted": 3}


def run(script: str, out: Path, timeout: float = 600, **env) -> subprocess.CompletedProcess:
    """The script in a process group of its own: one that hangs is stopped with its children."""
    with subprocess.Popen(["bash", str(ROOT / "results" / "attack" / script)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True,
                          env={**os.environ, "OUT": str(out), **env}) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_zo_sh_runs_every_kind_of_method_and_reports_and_leaves_the_other_runs(tmp_path):
    """It removed every .jsonl and .npz in its folder first: a narrowed run wiped the records it
    does not make (the universal-220k ones docs/attack.md cites, the other methods')."""
    kept = {"universal-220k.jsonl": '{"index": 0, "label": 7, "predicted": 3, "fooled": true}\n',
            "universal.jsonl": '{"index": 0, "label": 7, "predicted": 7, "fooled": false}\n',
            "universal-220k.npz": "δ", "universal.json": "{}\n", "zo-adamm-linf.jsonl": json.dumps(ZO_RECORD) + "\n"}
    for name, text in kept.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "summaries.jsonl").write_text(
        json.dumps({"method": "zo-adamm", "norm": "inf", "attacked": 1}) + "\n"
        + json.dumps({"method": "pgd", "norm": "inf", "attacked": 9}) + "\n")  # a pgd run made again: its line goes
    done = run("zo.sh", tmp_path, IMAGES="2", BUDGET="40", METHODS="pgd art-zoo zo-sgd", UNIVERSAL="0",
               VICTIM_PORT=str(free_port()), SERVICE_PORT=str(free_port()), BIN=str(ROOT / ".venv" / "bin"))
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "table.md").read_text()
    for method in ("pgd", "art-zoo", "zo-sgd"):
        for norm in ("linf", "l2"):
            assert (tmp_path / f"{method}-{norm}.jsonl").read_text().count("\n") >= 1, (method, norm)
        assert method in table
    assert all((tmp_path / name).read_text() == text for name, text in kept.items())
    assert "| zo-adamm | ℓ∞ | 0.2 | 40 | 1 |" in table  # the run kept is reported beside the new ones
    summaries = [(row["method"], row["norm"], row["attacked"]) for row in _lines(tmp_path / "summaries.jsonl")]
    assert summaries[0] == ("zo-adamm", "inf", 1) and len(summaries) == 7 and ("pgd", "inf", 9) not in summaries
    timed = json.loads((tmp_path / "time.json").read_text())
    assert timed["runs"] == ["pgd-linf", "art-zoo-linf", "zo-sgd-linf", "pgd-l2", "art-zoo-l2", "zo-sgd-l2"]
    assert timed["universal"] is False


def test_peers_sh_runs_and_reports(tmp_path):
    done = run("peers.sh", tmp_path, IMAGES="1", BUDGET="20", PORT=str(free_port()))
    assert done.returncode == 0, done.stderr[-3000:]
    assert {"pgd-linf.jsonl", "art-square-l2.jsonl", "art-zoo-linf.jsonl", "table.md"} <= {
        p.name for p in tmp_path.iterdir()}


@contextmanager
def _someone_elses_victim():
    """A server on a free port that answers every GET with {}: what a victim started by hand
    looks like to a wait loop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_in_use_is_refused_before_anything_is_touched(tmp_path):
    """peers.sh (on 8100 by default, where the docs start a victim by hand) attacked whatever
    answered on its port, after removing its folder's records."""
    (tmp_path / "pgd-linf.jsonl").write_text("earlier\n")
    with _someone_elses_victim() as port:
        peers = run("peers.sh", tmp_path, timeout=60, PORT=str(port))
        zo = run("zo.sh", tmp_path, timeout=60, VICTIM_PORT=str(free_port()), SERVICE_PORT=str(port),
                 BIN=str(ROOT / ".venv" / "bin"))
    assert peers.returncode == 1 and f"peers.sh: port {port} for the victim is in use already" in peers.stderr
    assert zo.returncode == 1 and f"zo.sh: port {port} for the service is in use already" in zo.stderr
    assert (tmp_path / "pgd-linf.jsonl").read_text() == "earlier\n"


def test_a_victim_that_cannot_start_ends_the_script_at_once(tmp_path):
    """The wait loop asked the port forever after the victim had exited."""
    (tmp_path / "m.pt").write_text("hello\n")
    done = run("zo.sh", tmp_path / "out", timeout=60, MODEL=str(tmp_path / "m.pt"), VICTIM_PORT=str(free_port()),
               SERVICE_PORT=str(free_port()), BIN=str(ROOT / ".venv" / "bin"))
    assert done.returncode == 1
    assert "m.pt: not a model file" in done.stderr and "zo.sh: the victim exited before it answered" in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_wait_for_a_process_that_never_answers_is_bounded(tmp_path):
    silent = tmp_path / "bin"
    silent.mkdir()
    for name in ("zoadamm-worker", "zoadamm-service"):  # alive, never listening
        (silent / name).write_text("#!/bin/sh\nexec sleep 60\n")
        (silent / name).chmod(0o755)
    done = run("zo.sh", tmp_path / "out", timeout=60, WAIT_S="1", BIN=str(silent), VICTIM_PORT=str(free_port()),
               SERVICE_PORT=str(free_port()))
    assert done.returncode == 1 and "zo.sh: the victim did not answer at http://127.0.0.1:" in done.stderr
    assert "within 1 s" in done.stderr
