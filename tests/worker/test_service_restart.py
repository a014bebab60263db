"""A running worker rides out a restart of its service (`docker compose restart service`, which
rotating keys takes): its call keeps asking within --service-wait, says so in one line on stderr
once the SDK's own tries are spent, and the run ends where an uninterrupted one ends.

The service runs on Redis, so the session outlives its process; it is stopped mid-run and
started again on the same port only once the worker has said it waits, which it does after the
tries that used to end the run.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from cli_support import HoldingObjective, run, start

from zoadamm import Client
from zoadamm_service.launch import ServiceProcess

STEPS, HELD = 30, 31  # HELD: the objective's request held while the service is stopped
WAITING = "does not answer"


def _restarted_under(worker: subprocess.Popen, service: ServiceProcess) -> str:
    """Stop-and-start ``service`` under a running ``worker`` (stopped already): the line the
    worker printed on stderr once its ordinary tries were spent; the service starts again then."""
    assert worker.stderr is not None
    said = []
    for line in worker.stderr:
        if WAITING in line:
            service.start()  # the same port: the worker's next try finds it
            return line
        said.append(line)
    raise AssertionError(f"the worker ended without waiting for its service: {''.join(said)}")


def _stop_when_held(objective: HoldingObjective, service: ServiceProcess, worker: subprocess.Popen) -> None:
    while not objective.holding.wait(0.05):
        assert worker.poll() is None, worker.communicate()
    service.stop()
    objective.released.set()  # the step's tell now finds nobody


@pytest.mark.parametrize("joined", [False, True], ids=["own-session", "joined"])
def test_a_rest_worker_rides_out_a_restart_of_its_service(redis_url, joined):
    service = ServiceProcess(redis_url)
    url = service.start()
    objective = HoldingObjective(hold=HELD)
    client = Client(url)
    try:
        if joined:  # the lean transport and the shared session's leases
            session = client.sessions.create(4, directions=2, seed=9, lr=0.05)
            argv = ["--join", session.id]
        else:
            whole = HoldingObjective()
            reference = run("zoadamm-worker", "rest", "--objective", whole.url, "--dim", "4", "--steps", str(STEPS),
                            "--lr", "0.05", "--seed", "9", "--service", url, "--quiet", "--name", "whole")
            whole.close()
            assert reference.returncode == 0, reference.stderr
            argv = ["--lr", "0.05", "--seed", "9", "--name", "restarted"]
        worker = start("zoadamm-worker", "rest", "--objective", objective.url, "--dim", "4", "--steps", str(STEPS),
                       "--service", url, "--quiet", *argv)
        _stop_when_held(objective, service, worker)
        line = _restarted_under(worker, service)
        out, err = worker.communicate()
    finally:
        objective.close()
        service.stop()
    assert worker.returncode == 0, err
    assert line.startswith(f"zoadamm: the service at {url} does not answer (") and "trying again for up to" in line
    assert err == "", err  # the one line, nothing after it
    result = json.loads(out)
    assert result["steps"] == STEPS
    if not joined:
        assert (result["x"], result["f"]) == (json.loads(reference.stdout)["x"], json.loads(reference.stdout)["f"])
    client.close()


def test_an_mnist_worker_rides_out_a_restart_of_its_service(redis_url, tmp_path):
    """The compose workers' command: its session goes on from its step, and the record has every epoch."""
    service = ServiceProcess(redis_url)
    url = service.start()
    client = Client(url)
    record = tmp_path / "zo.jsonl"
    worker = start("zoadamm-worker", "mnist", "--train-limit", "6400", "--epochs", "2", "--service", url,
                   "--quiet", "--name", "restarted", "--record", str(record))  # 50 steps an epoch
    try:
        while not ((named := [s for s in client.sessions.list() if s.name == "restarted"])
                   and client.sessions.get(named[0].id).step >= 5):
            assert worker.poll() is None, worker.communicate()
        service.stop()
        line = _restarted_under(worker, service)
        out, err = worker.communicate()
        step = client.sessions.get(named[0].id).step
    finally:
        client.close()
        service.stop()
    assert worker.returncode == 0, err
    assert line.startswith(f"zoadamm: the service at {url} does not answer (")
    assert json.loads(out)["epoch"] == 2 and step == 100
    assert [json.loads(r)["epoch"] for r in record.read_text().splitlines()] == [1, 2]


def test_a_joined_worker_whose_service_stays_down_says_the_same_command_joins_again(redis_url):
    """It printed the start-up hint (no service: start one), as if the run had not begun."""
    service = ServiceProcess(redis_url)
    url = service.start()
    objective = HoldingObjective(hold=HELD)
    try:
        with Client(url) as client:
            session = client.sessions.create(4, directions=2, seed=9, lr=0.05).id
        argv = ["zoadamm-worker", "rest", "--objective", objective.url, "--dim", "4", "--steps", str(STEPS),
                "--service", url, "--quiet", "--service-wait", "1", "--join", session]
        worker = start(*argv)
        _stop_when_held(objective, service, worker)
        out, err = worker.communicate()
    finally:
        objective.close()
        service.stop()
    assert worker.returncode == 1 and out == "", (out, err)
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"zoadamm-worker: the service at {url} stopped answering while this worker shared "
                           f"session {session}; a service on Redis keeps the steps told"), err
    assert line.endswith(f"--join {session}") and "--resume" not in line and "start one" not in err, err


def test_joining_a_session_that_takes_gradients_is_refused_before_its_x_is_set(redis_url):
    """x0 was sent first, setting the FO session's x, and the refusal came as a traceback."""
    with ServiceProcess(redis_url) as service, Client(service.url) as client:
        session = client.sessions.create(4, method="adamm", seed=0).id
        done = run("zoadamm-worker", "rest", "--objective", "http://127.0.0.1:9/f", "--dim", "4", "--steps", "3",
                   "--service", service.url, "--quiet", "--join", session)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"session {session}'s method is adamm, which takes gradients" in done.stderr
        assert client.sessions.get(session).has_parameters is False
