"""`make demo` installs Python packages only; `make test` adds the system packages the tests use,
says so in one line, and when it cannot (no apt-get, not root, apt-get failing) says what to do.

The set-up script runs as `make test` runs it, with stand-ins for ``id``, ``sudo`` and
``apt-get`` first on PATH: nothing is installed on this machine by the test.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from cli_support import ROOT, one_line

SCRIPT = ROOT / ".ci" / "system-packages"
MISSING = "fake-browser:/nonexistent/fake-browser"


def stand_ins(folder, *, uid: int, apt: str | None, sudo: bool) -> dict[str, str]:
    """A PATH of ``bash``, ``env``, ``id`` answering ``uid``, an ``apt-get`` that runs ``apt``
    (and logs its arguments), and ``sudo`` when asked for."""
    folder.mkdir()
    for tool in ("bash", "env"):
        (folder / tool).symlink_to(shutil.which(tool))
    scripts = {"id": f'echo {uid}'}
    if apt is not None:
        scripts["apt-get"] = f'echo "$@" >> {folder}/apt.log\n{apt}'
    if sudo:
        scripts["sudo"] = f'echo sudo >> {folder}/apt.log\nexec "$@"'
    for name, body in scripts.items():
        (folder / name).write_text(f"#!/bin/bash\n{body}\n")
        (folder / name).chmod(0o755)
    return {"PATH": str(folder)}


def setup(folder, *, uid: int = 0, apt: str | None = "exit 0", sudo: bool = False, packages=(MISSING,)):
    env = stand_ins(folder, uid=uid, apt=apt, sudo=sudo)
    return subprocess.run([shutil.which("bash"), str(SCRIPT), *packages], capture_output=True, text=True, env=env)


def test_make_demo_runs_no_apt_get_and_make_test_runs_the_script():
    demo = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    test = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "apt-get" not in demo and "sudo" not in demo and "system-packages" not in demo
    line = next(line for line in test.splitlines() if line.startswith(".ci/system-packages"))
    named = {package.split(":")[0] for package in line.split()[1:]}
    # the browser tests, the balancer tests and the Redis Cluster tests each need one of these
    assert {"chromium", "haproxy", "redis-server"} <= named


def test_nothing_is_said_or_installed_when_every_package_is_there(tmp_path):
    done = setup(tmp_path / "bin", packages=(f"bash:{shutil.which('bash')}", "env:env"))
    assert done.returncode == 0 and done.stdout == done.stderr == ""
    assert not (tmp_path / "bin" / "apt.log").exists()


@pytest.mark.parametrize(("uid", "sudo", "how"), [(0, False, "apt-get"), (1000, True, "sudo apt-get")])
def test_a_missing_package_is_installed_in_one_line(tmp_path, uid, sudo, how):
    done = setup(tmp_path / "bin", uid=uid, sudo=sudo)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == f"make test: installing fake-browser with {how} (only the tests need them)\n"
    log = (tmp_path / "bin" / "apt.log").read_text().splitlines()
    assert log[-1] == "install -y -qq fake-browser" and ("sudo" in log) == sudo


@pytest.mark.parametrize(("uid", "apt", "says"), [
    (0, None, "install them with this system's package manager, then run make test again"),
    (1000, "exit 0", "this user is not root and has no sudo: ask an administrator to run `apt-get install "
                     "fake-browser`, then run make test again"),
], ids=["no apt-get", "not root"])
def test_what_cannot_be_installed_is_one_line_that_says_what_to_do(tmp_path, uid, apt, says):
    line = one_line(setup(tmp_path / "bin", uid=uid, apt=apt))
    assert line.startswith("make test: the tests need fake-browser (") and line.endswith(says)


def test_a_failing_apt_get_says_to_wait_for_the_lock(tmp_path):
    lock = ("echo 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)' >&2\n"
            "exit 100")
    done = setup(tmp_path / "bin", apt=lock)
    assert done.returncode == 1
    assert done.stdout == "make test: installing fake-browser with apt-get (only the tests need them)\n"
    said = done.stderr.strip().splitlines()
    assert "Could not get lock" in said[0] and len(said) == 2  # apt-get's own line, then ours
    assert said[1].startswith("make test: apt-get could not install fake-browser")
    assert "wait for it to finish and run make test again" in said[1]
