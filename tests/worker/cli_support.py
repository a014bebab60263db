"""Running the command-line tools as a user runs them: the installed console scripts, in a
process of their own, with what they print and their exit status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def default_sigint() -> None:
    """In the child: Ctrl-C as a terminal delivers it, even when the suite runs as a background
    job, whose shell starts it with SIGINT ignored (and Python keeps an ignored SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``argv`` (its first word a console script of this environment) run to its end."""
    program, *rest = argv
    return subprocess.run([str(BIN / program), *rest], capture_output=True, text=True, cwd=cwd,
                          env={**_clean_env(), **(env or {})}, preexec_fn=default_sigint)


def start(*argv: str) -> subprocess.Popen:
    program, *rest = argv
    return subprocess.Popen([str(BIN / program), *rest], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_clean_env(), preexec_fn=default_sigint)


def interrupt(proc: subprocess.Popen, when: Callable[[], bool], sig: int = signal.SIGINT) -> tuple[str, str]:
    """Send ``sig`` to ``proc`` once ``when()`` holds; returns its stdout and stderr."""
    while not when():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(sig)
    return proc.communicate()


class HoldingObjective:
    """f(x) = sum((x - 3)^2) (or ``f(x)``) over HTTP; the ``hold``-th request waits until ``release()``."""

    def __init__(self, hold: int | None = None, f: Callable[[list[float]], float] | None = None) -> None:
        self.hold, self.requests = hold, 0
        value = f or (lambda x: sum((v - 3.0) ** 2 for v in x))
        self.holding, self.released = threading.Event(), threading.Event()
        objective = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                x = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["x"]
                objective.requests += 1
                if objective.requests == objective.hold:
                    objective.holding.set()
                    objective.released.wait()
                body = json.dumps({"value": value(x)}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/f"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def one_line(done: subprocess.CompletedProcess | tuple[int, str], status: int = 1) -> str:
    """The single line a failed command printed on stderr, once its status is checked and no
    traceback was printed."""
    code, err = (done.returncode, done.stderr) if isinstance(done, subprocess.CompletedProcess) else done
    assert code == status, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _clean_env() -> dict[str, str]:
    """This environment without the variables that change the tools' defaults."""
    changes = ("ZOADAMM_API_KEY", "ZOADAMM_SERVICE_URL", "ZOADAMM_TRAIN_LIMIT", "ZOADAMM_SERVICE_WAIT_S", "REDIS_URL")
    return {k: v for k, v in os.environ.items() if k not in changes}
