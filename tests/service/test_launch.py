"""A service started by ``launch`` ends with the process that started it, a kill -9 included."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

GUARD_S = 60  # only a guard against a service that never ends

STARTS_ONE = """
from zoadamm_service.launch import local_service
with local_service() as url:
    print(url, flush=True)
    import time
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie not reaped yet is gone too
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_a_service_ends_when_the_process_that_started_it_is_killed_outright():
    """A runner (the experiments grid, the demo) killed with SIGKILL left its service running,
    orphaned, about 300 MB, until killed by hand."""
    runner = subprocess.Popen([sys.executable, "-c", STARTS_ONE], stdout=subprocess.PIPE, text=True)
    service = None
    try:
        url = runner.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        (service,) = [int(pid) for pid in open(f"/proc/{runner.pid}/task/{runner.pid}/children").read().split()]
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        deadline = time.monotonic() + GUARD_S
        while _alive(service):
            assert time.monotonic() < deadline, f"the service {service} outlived its runner"
            time.sleep(0.1)
    finally:
        runner.kill()
        if service is not None and _alive(service):  # not left behind by a failure here
            os.kill(service, signal.SIGKILL)


IGNORES_CTRL_C = """
import os, signal, time, urllib.request
from zoadamm_service.launch import local_service
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup, or a shell's background job
with local_service() as url:
    os.killpg(0, signal.SIGINT)  # a terminal's Ctrl-C: to the whole foreground group
    time.sleep(1.0)  # what a service that took it needs to stop
    with urllib.request.urlopen(url + "/healthz", timeout=30) as answer:
        print(answer.status)
"""


def test_ctrl_c_to_the_group_reaches_the_runner_alone():
    """A runner and its own service are one program to the terminal: the group's Ctrl-C stopped
    the service under a runner that ignores it, which then failed on 'cannot reach the service'
    (and one that takes it stops the service itself, in order)."""
    done = subprocess.run([sys.executable, "-c", IGNORES_CTRL_C], capture_output=True, text=True,
                          start_new_session=True)  # its own group, apart from the tests'
    assert done.returncode == 0 and done.stdout.strip() == "200", done.stderr[-2000:]


def test_a_port_taken_before_the_service_binds_it_is_left_for_another(monkeypatch):
    """The kernel hands the range free_port draws from to outgoing connections too: a port taken
    between the pick and the bind ended the start ("port ... is in use")."""
    from zoadamm_service import launch

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        picks = iter([port])
        monkeypatch.setattr(launch, "free_port", lambda: next(picks, None) or socket_port())
        with launch.ServiceProcess() as service:
            assert service.port != port
            with urllib.request.urlopen(service.url + "/healthz", timeout=10) as answer:
                assert answer.status == 200
        # a port the caller names is the caller's: no other is tried
        with pytest.raises(launch.ServiceStartError, match="in use"):
            launch.ServiceProcess(port=port).start()


def socket_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
