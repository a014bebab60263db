"""Stopping the commands that start a service of their own: SIGTERM or Ctrl-C ends them through
their clean-up, so the service they started stops with them, and they say so in one line."""

from __future__ import annotations

import shlex
import signal
import subprocess

import httpx
import pytest
from cli_support import interrupt, start

from zoadamm_service.launch import free_port


def _refused(url: str) -> bool:
    try:
        httpx.get(url + "/healthz", timeout=5)
    except httpx.ConnectError:
        return True
    return False


def _read_until(proc: subprocess.Popen, marker: str) -> str:
    """Lines of ``proc``'s stdout up to the first that holds ``marker``; returns that line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if marker in line:
            return line
    raise AssertionError(f"the command ended without printing {marker!r}: {proc.communicate()}")


def test_sigterm_to_the_demo_stops_the_service_it_started(tmp_path):
    demo = start("zoadamm-demo", "--epochs", "50", "--train-limit", "1280", "--out", str(tmp_path))
    line = _read_until(demo, "watch both runs live: ")
    url = line.split("watch both runs live: ", 1)[1].split("/dashboard")[0]
    assert not _refused(url)  # its own service answers while it trains
    _, err = interrupt(demo, lambda: True, signal.SIGTERM)
    assert demo.returncode == 128 + signal.SIGTERM and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("zoadamm-demo: interrupted") and "the service it started is stopped" in last
    assert "the same command starts over" in last
    assert _refused(url)


def test_ctrl_c_stops_the_service_without_a_traceback():
    """uvicorn shuts the service down on Ctrl-C and returns; nothing more to say."""
    port = free_port()
    service = start("zoadamm-service", "--port", str(port), "--log-level", "warning")
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        return not _refused(url)

    _, err = interrupt(service, answers)
    assert service.returncode == 0 and "Traceback" not in err  # a shutdown, as asked
    assert _refused(url)


def test_an_interrupted_grid_says_the_command_that_continues_it(tmp_path):
    argv = ["zoadamm-experiments", "run", "--preset", "smoke", "--out", str(tmp_path / "smoke"), "--quiet"]
    grid = start(*argv)
    _read_until(grid, "run 1/6")
    _, err = interrupt(grid, lambda: True)
    assert grid.returncode == 128 + signal.SIGINT and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"zoadamm-experiments: interrupted; continue with: {shlex.join(argv)} "
        "(complete runs are skipped; the stopped run starts again from its first epoch)")


def test_the_command_line_loads_torch_only_for_a_command_that_needs_it():
    """Loading torch takes a second or more, before the command's Ctrl-C handling is in place:
    a Ctrl-C then was a KeyboardInterrupt traceback (and SIGTERM a silent exit)."""
    import subprocess
    import sys

    loaded = subprocess.run([sys.executable, "-c", "import sys, zoadamm_worker.cli; print('torch' in sys.modules)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 0), (signal.SIGTERM, 143)])
def test_a_held_demo_ends_on_ctrl_c_as_asked_and_reports_sigterm(tmp_path, sig, status):
    """--hold says that Ctrl-C ends it: that is its way out (0); SIGTERM is a stop (143)."""
    demo = start("zoadamm-demo", "--epochs", "1", "--train-limit", "256", "--out", str(tmp_path), "--hold")
    for line in demo.stdout:
        if "the service stays up" in line:
            break
    demo.send_signal(sig)
    demo.communicate(timeout=60)
    assert demo.returncode == status
