"""A worker stopped by Ctrl-C (or SIGTERM) prints one line with its session and the command that
continues it; that command, run as printed, ends exactly where an uninterrupted run ends.

The REST objective holds one evaluation until the worker has been interrupted, so the interrupt
lands at a known step; the MNIST worker is interrupted once its session has taken a few steps.
"""

from __future__ import annotations

import json
import shlex
import signal

import pytest
from cli_support import HoldingObjective, interrupt, one_line, run, start

from zoadamm import Client
from zoadamm_service.launch import local_service

STEPS, HELD_STEP = 40, 15


@pytest.fixture(scope="module")
def service_url():
    with local_service() as url:
        yield url


def rest_argv(objective: HoldingObjective, service: str, name: str) -> list[str]:
    return ["zoadamm-worker", "rest", "--objective", objective.url, "--dim", "4", "--steps", str(STEPS),
            "--lr", "0.05", "--seed", "9", "--service", service, "--quiet", "--name", name]


def run_printed(line: str) -> dict:
    """The command after "continue with: " in ``line``, run as printed; its JSON summary."""
    done = run(*shlex.split(line.split("continue with: ", 1)[1]))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_rest_worker_continues_with_the_command_it_prints(service_url, sig):
    whole = HoldingObjective()
    reference = run(*rest_argv(whole, service_url, f"whole-{sig}"))
    whole.close()
    assert reference.returncode == 0, reference.stderr
    expected = json.loads(reference.stdout)

    held = HoldingObjective(hold=2 * HELD_STEP + 1)  # q = 1, forward: f(x) of step 15
    argv = rest_argv(held, service_url, f"stopped-{sig}")
    try:
        out, err = interrupt(start(*argv), held.holding.is_set, sig)
    finally:
        held.released.set()
    line = one_line((128 + sig, err), status=128 + sig)
    with Client(service_url) as client:
        (session,) = [s for s in client.sessions.list() if s.name == f"stopped-{sig}"]
        assert client.sessions.get(session.id).step == HELD_STEP
    assert out == "" and line == (
        f"zoadamm-worker: interrupted at step {HELD_STEP} of session {session.id}; the steps told are kept; "
        f"continue with: {shlex.join([*argv, '--resume'])}")

    continued = run_printed(line)
    held.close()
    assert continued["session"] == session.id and continued["steps"] == STEPS
    assert continued["x"] == expected["x"] and continued["f"] == expected["f"]


def test_an_interrupted_mnist_worker_continues_to_the_same_weights(service_url, tmp_path):
    common = ["--train-limit", "6400", "--epochs", "2", "--service", service_url, "--quiet"]  # 50 steps an epoch
    whole = run("zoadamm-worker", "mnist", *common, "--name", "whole", "--record", str(tmp_path / "whole.jsonl"))
    assert whole.returncode == 0, whole.stderr

    client = Client(service_url)
    argv = ["zoadamm-worker", "mnist", *common, "--name", "stopped", "--record", str(tmp_path / "stopped.jsonl")]

    def some_steps_taken() -> bool:
        named = [s for s in client.sessions.list() if s.name == "stopped"]
        return bool(named) and client.sessions.get(named[0].id).step >= 5

    out, err = interrupt(start(*argv), some_steps_taken)
    line = one_line((130, err), status=130)
    (stopped,) = [s for s in client.sessions.list() if s.name == "stopped"]
    step = client.sessions.get(stopped.id).step
    assert 5 <= step < 100 and line.startswith(f"zoadamm-worker: interrupted at step {step} of session {stopped.id}")
    assert line.endswith(f"continue with: {shlex.join([*argv, '--resume'])}")

    continued = run_printed(line)
    (reference,) = [s for s in client.sessions.list() if s.name == "whole"]
    assert continued["session"] == stopped.id and continued["epoch"] == 2
    assert client.sessions.parameters(stopped.id).x.tobytes() == client.sessions.parameters(reference.id).x.tobytes()
    assert len(client.sessions.history(stopped.id)) == len(client.sessions.history(reference.id)) == 2
    last = json.loads((tmp_path / "whole.jsonl").read_text().splitlines()[-1])
    assert (continued["test_loss"], continued["test_accuracy"]) == (last["test_loss"], last["test_accuracy"])
    client.close()


def test_an_mnist_worker_that_loses_its_service_says_what_continues_it(tmp_path):
    """The service is killed mid-run: the worker says where it stood and prints the command that
    continues it (as the REST worker does), not the advice to start a service."""
    from zoadamm_service.launch import ServiceProcess

    service = ServiceProcess()
    url = service.start()
    argv = ["zoadamm-worker", "mnist", "--train-limit", "6400", "--epochs", "2", "--service", url, "--quiet",
            "--name", "lost", "--service-wait", "0"]  # the SDK's tries alone: the service stays away
    client = Client(url)

    def some_steps_taken() -> bool:
        named = [s for s in client.sessions.list() if s.name == "lost"]
        if named and client.sessions.get(named[0].id).step >= 5:
            service.stop()  # as a kill would: the worker's next call finds nobody
            return True
        return False

    try:
        worker = start(*argv)
        while not some_steps_taken():
            assert worker.poll() is None, worker.communicate()
        out, err = worker.communicate(timeout=300)
    finally:
        client.close()
        service.stop()
    line = one_line((worker.returncode, err))
    assert f"the service at {url} stopped answering at step " in line, line
    assert line.endswith(f"continue with: {shlex.join([*argv, '--resume'])}")
