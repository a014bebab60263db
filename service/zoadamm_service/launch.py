"""``zoadamm-service`` as a process of its own, as users run it, ready once /healthz answers 200.

The one way the demo, the experiment runner, the benchmarks and the tests start a service.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Self

# A guard against a process that never comes up (a cold start imports numpy and FastAPI).
STARTUP_TIMEOUT_S = 120.0


class ServiceStartError(RuntimeError):
    """The service exited or never answered /healthz; the message ends with its output."""


# How many ports a ServiceProcess that picks its own tries before its start fails.
PICKED_PORT_TRIES = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ends_with_its_parent():
    """What makes the child get SIGTERM when this process dies, a kill -9 included (Linux's
    parent-death signal; it survives the exec): a runner killed outright left its service
    running, orphaned.  Only from the main thread, as the signal comes when the thread that
    started the child ends; None elsewhere, and where the C library has no prctl."""
    if threading.current_thread() is not threading.main_thread() or not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def in_the_child() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return in_the_child


class ChildProcess:
    """``start()`` runs ``argv`` and returns ``url`` once ``url + health`` answers 200 (the
    victim of the attack commands starts this way too); ``stop()`` ends it, ``kill()`` sends
    SIGKILL (no shutdown runs).  ``error`` is raised, naming the process ``name`` and ending
    with its output, when it exits or does not answer in time."""

    def __init__(self, argv: list[str], url: str, name: str, *, health: str = "/healthz",
                 env: dict[str, str] | None = None, error: type[RuntimeError] = RuntimeError) -> None:
        self.url, self.name, self._argv, self._health, self._env, self._error = url, name, argv, health, env, error
        self._output: IO[str] | None = None
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        self._output = tempfile.TemporaryFile("w+")
        tied = _ends_with_its_parent()
        # tied to this process, the child gets a session of its own: a terminal's Ctrl-C, which goes
        # to the whole foreground group, then reaches this process alone, which stops the child in
        # order (a runner whose service died first said the service could not be reached)
        self.proc = subprocess.Popen(self._argv, env=self._env, stdout=self._output, stderr=subprocess.STDOUT,
                                     text=True, preexec_fn=tied, start_new_session=tied is not None)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            while self.proc.poll() is None and time.monotonic() < deadline:
                if self.healthy():
                    return self.url
                time.sleep(0.1)
        except BaseException:  # Ctrl-C or SIGTERM while it starts: no process is left behind
            self.stop()
            raise
        self.stop()
        raise self._error(f"{self.name} did not start on {self.url}:\n{self.output()[-3000:]}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + self._health, timeout=5) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def output(self) -> str:
        """What the process printed so far (its log)."""
        if self._output is None:
            return ""
        self._output.flush()
        self._output.seek(0)
        return self._output.read()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
        if self._output is not None:
            self._output.close()


class ServiceProcess(ChildProcess):
    """``zoadamm-service`` on a free loopback port (embedded store, or ``redis_url``); ``start()``
    raises ServiceStartError when the service exits or does not answer in time."""

    def __init__(self, redis_url: str | None = None, *, port: int | None = None, workers: int = 1,
                 env: dict[str, str] | None = None, log_level: str = "warning", host: str = "127.0.0.1") -> None:
        environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "REDIS_URL"}
        if redis_url:
            environment["REDIS_URL"] = redis_url
        self._picked = port is None
        self._options = ["--host", host, "--workers", str(workers), "--log-level", log_level]
        super().__init__([], "", "zoadamm-service", env=environment, error=ServiceStartError)
        self._on(port or free_port())

    def _on(self, port: int) -> None:
        script = Path(sys.executable).with_name("zoadamm-service")
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self._argv = [str(script), "--port", str(port), *self._options]

    def start(self) -> str:
        """A port picked here can be taken before the service binds it (the kernel hands the same
        range to outgoing connections): the start is tried again on another, a few times."""
        for _ in range(PICKED_PORT_TRIES - 1):
            try:
                return super().start()
            except ServiceStartError:
                if not self._picked or "in use" not in self.output():
                    raise
                assert self._output is not None
                self._output.close()
            self._on(free_port())
        return super().start()


@contextmanager
def local_service(redis_url: str | None = None, *, workers: int = 1, env: dict[str, str] | None = None,
                  log_level: str = "warning") -> Iterator[str]:
    """A service for the length of a ``with`` block; yields its URL.  Raises ServiceStartError."""
    with ServiceProcess(redis_url, workers=workers, env=env, log_level=log_level) as service:
        yield service.url
