"""The command-line tools when the service fails them: one line on stderr that names the URL
and says what to do, a non-zero exit status, no traceback; ``--debug`` shows the traceback.

Each tool runs as a process, as a user runs it, against real HTTP servers: nothing listening,
a zoadamm service reached under a wrong path, and a server that answers 401.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from zoadamm import Client, ZoadammError
from zoadamm.sdk import ConflictError
from zoadamm_worker.cli_errors import explain
from zoadamm_worker.demo import local_service

BIN = Path(sys.executable).parent
COMMANDS = {
    "worker mnist": ["zoadamm-worker", "mnist", "--epochs", "1", "--service"],
    "worker rest": ["zoadamm-worker", "rest", "--objective", "http://127.0.0.1:9/f", "--dim", "3", "--service"],
    "experiments": ["zoadamm-experiments", "run", "--preset", "smoke", "--out", "{tmp}", "--service"],
    "demo": ["zoadamm-demo", "--out", "{tmp}", "--service"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(name: str, url: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    program, *args = [a.replace("{tmp}", str(tmp_path)) for a in COMMANDS[name]]
    return subprocess.run([str(BIN / program), *args, url, *extra], capture_output=True, text=True)


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def service_url():
    with local_service() as url:
        yield url


@pytest.fixture(scope="module")
def unauthorized_url():
    class Refuse(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"detail": "missing credentials"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("name", COMMANDS)
def test_no_service_gives_one_line_naming_the_url(name, tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    line = _one_line(_run(name, url, tmp_path))
    assert url in line and "connection refused" in line and "zoadamm-service --port 8000" in line


@pytest.mark.parametrize("name", COMMANDS)
def test_a_wrong_base_path_says_where_the_api_lives(name, service_url, tmp_path):
    line = _one_line(_run(name, service_url + "/api", tmp_path))
    assert f"{service_url}/api/healthz answered 404" in line and "/v1/sessions" in line


@pytest.mark.parametrize("name", ["worker rest", "demo"])
def test_a_401_names_the_url(name, unauthorized_url, tmp_path):
    line = _one_line(_run(name, unauthorized_url, tmp_path))
    assert f"{unauthorized_url}/healthz answered 401" in line and "--service" in line


def test_debug_shows_the_traceback(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    done = _run("worker rest", url, tmp_path, "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "APIConnectionError" in done.stderr and url in done.stderr


def test_a_conflict_and_a_lost_session_are_explained(service_url):
    """409 and 404 happen mid-run, after the health check: their lines, from real answers."""
    with Client(service_url) as client:
        session = client.sessions.create(3, x0=[0.0, 0.0, 0.0], directions=1)
        with pytest.raises(ConflictError) as conflict:
            client.sessions.tell(session.id, 5, f_x=1.0, f_plus=[1.0])
        line = explain(conflict.value, service_url)
        assert service_url in line and "409" in line and "another client" in line
        client.sessions.delete(session.id)
        with pytest.raises(ZoadammError) as gone:
            client.sessions.get(session.id)
        line = explain(gone.value, service_url)
        assert service_url in line and "no longer has this run's session" in line
