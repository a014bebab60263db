"""``--service-wait`` is one window: a run whose service stays away gives up after it (and says
so once), not after a second window on its way out.  At the start, a balancer's 502 (no replica
up yet) is waited for as long; so is a URL where nothing answers when the user gave the wait
(the option or ``$ZOADAMM_SERVICE_WAIT_S``), while a worker left at the default says that at
once (test_cli_errors).

The service runs on Redis and is a real process, stopped and started on its own port.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from cli_support import HoldingObjective, start

from zoadamm_service.launch import ServiceProcess
from zoadamm_worker.cli import build_parser

WAITING = "does not answer"


def test_a_run_whose_service_stays_away_waits_one_window_in_all(redis_url):
    """The window is longer than the SDK's five tries (at most about 8 s), so its WARNING shows;
    leaving the run used to ask the service for its step, a second window and a second line."""
    service = ServiceProcess(redis_url)
    url = service.start()
    objective = HoldingObjective(hold=11)  # step 5's first evaluation (d = 2, q = 1: two a step)
    try:
        worker = start("zoadamm-worker", "rest", "--objective", objective.url, "--dim", "2", "--steps", "100000000",
                       "--service", url, "--service-wait", "9", "--quiet", "--name", "away")
        while not objective.holding.wait(0.05):
            assert worker.poll() is None, worker.communicate()
        service.stop()
        objective.released.set()  # the step's tell now finds nobody
        out, err = worker.communicate()
    finally:
        objective.close()
        service.stop()
    assert worker.returncode == 1 and out == "", err
    waits = [line for line in err.splitlines() if WAITING in line]
    assert len(waits) == 1 and waits[0].startswith(f"zoadamm: the service at {url} does not answer ("), err
    assert err.splitlines()[-1].startswith(f"zoadamm-worker: the service at {url} stopped answering at step 5 "), err


def test_a_worker_given_a_wait_waits_for_its_service_at_start(redis_url):
    """Started while its service is away (it restarts, or compose's balancer has no replica yet):
    one line says that it waits, and the run goes on once the service answers."""
    service = ServiceProcess(redis_url)  # its port is free: nothing answers there yet
    objective = HoldingObjective()
    try:
        worker = start("zoadamm-worker", "rest", "--objective", objective.url, "--dim", "2", "--steps", "5",
                       "--service", service.url, "--service-wait", "300", "--quiet", "--name", "late")
        assert worker.stderr is not None
        line = worker.stderr.readline()
        assert WAITING in line, line + worker.communicate()[1]
        service.start()
        out, err = worker.communicate()
    finally:
        objective.close()
        service.stop()
    assert line.startswith(f"zoadamm: the service at {service.url} does not answer (") and "300 s" in line, line
    assert worker.returncode == 0 and err == "", err  # the one line, nothing after it
    assert json.loads(out)["steps"] == 5


class Gateway:
    """A balancer in front of a service: HAProxy's 502 page while it has no backend, then every
    request passed on to ``backend`` and its answer passed back."""

    def __init__(self) -> None:
        self.backend: str | None = None
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept alive, as the balancer keeps it

            def answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if gateway.backend is None:
                    status, headers, content = 502, [("Content-Type", "text/html")], b"<h1>502 Bad Gateway</h1>"
                else:
                    backend = urlsplit(gateway.backend)
                    conn = http.client.HTTPConnection(backend.hostname, backend.port, timeout=60)
                    conn.request(self.command, self.path, body, {k: v for k, v in self.headers.items()
                                                                 if k.lower() not in ("host", "connection")})
                    reply = conn.getresponse()
                    status, content = reply.status, reply.read()
                    headers = [(k, v) for k, v in reply.getheaders()
                               if k.lower() not in ("content-length", "transfer-encoding", "connection")]
                    conn.close()
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_worker_at_the_default_waits_out_a_balancer_with_no_replica_yet(redis_url):
    """compose's case: the workers start while the balancer still answers 502."""
    gateway, service, objective = Gateway(), ServiceProcess(redis_url), HoldingObjective()
    try:
        worker = start("zoadamm-worker", "rest", "--objective", objective.url, "--dim", "2", "--steps", "5",
                       "--service", gateway.url, "--quiet", "--name", "behind")
        assert worker.stderr is not None
        line = worker.stderr.readline()
        assert WAITING in line, line + worker.communicate()[1]
        gateway.backend = service.start()
        out, err = worker.communicate()
    finally:
        objective.close()
        service.stop()
        gateway.close()
    assert line.startswith(f"zoadamm: the service at {gateway.url} does not answer (502 Bad Gateway)"), line
    assert "120 s" in line, line
    assert worker.returncode == 0 and err == "", err
    assert json.loads(out)["steps"] == 5


@pytest.mark.parametrize("command", ["rest", "mnist"])
def test_only_a_wait_given_covers_the_start(command, monkeypatch):
    monkeypatch.delenv("ZOADAMM_SERVICE_WAIT_S", raising=False)
    extra = ["--objective", "http://127.0.0.1:9/f", "--dim", "2"] if command == "rest" else []

    def parsed(*argv: str):
        args = build_parser().parse_args([command, *extra, *argv])
        args.check(args)
        return args.service_wait, args.wait_at_start

    assert parsed() == (120.0, False)  # the default: no connection at the start is said at once
    assert parsed("--service-wait", "30") == (30.0, True)
    assert parsed("--service-wait", "0") == (0.0, True)
    monkeypatch.setenv("ZOADAMM_SERVICE_WAIT_S", "45")
    assert parsed() == (45.0, True)
    assert parsed("--service-wait", "5") == (5.0, True)
