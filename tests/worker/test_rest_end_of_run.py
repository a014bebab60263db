"""What the rest worker says when its run ends without progress: an endpoint that answers the
same value at every probe, or a run that ends with f above where it began.  Each is one line of
the worker's own, naming the endpoint, the session and the option to change, where the SDK's
warnings spoke of a Python f ("compute in float64") and its keyword arguments."""

from __future__ import annotations

import json

import pytest
from cli_support import HoldingObjective, run

from zoadamm_service.launch import local_service


@pytest.fixture(scope="module")
def service_url():
    with local_service() as url:
        yield url


def _rest(objective: HoldingObjective, service: str, name: str, *options: str) -> tuple[dict, list[str]]:
    done = run("zoadamm-worker", "rest", "--objective", objective.url, "--service", service, "--quiet",
               "--name", name, *options)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr.strip().splitlines()


def test_an_endpoint_that_answers_one_value_is_told_to_raise_mu(service_url):
    flat = HoldingObjective(f=lambda x: 1.0)
    try:
        summary, lines = _rest(flat, service_url, "flat", "--dim", "3", "--steps", "4", "--mu", "0.002")
    finally:
        flat.close()
    assert summary["steps"] == 4 and summary["x"] == [0.0, 0.0, 0.0]
    assert lines == [
        f"zoadamm-worker: the endpoint {flat.url} answered the same value at x and at every probe x + mu u in all "
        f"4 steps (session {summary['session']}), so x did not move: a step of mu is below what it resolves; "
        "raise --mu above 0.002"]


def test_a_run_that_ends_worse_is_told_of_lr_and_directions(service_url):
    steep = HoldingObjective()  # sum((x - 3)^2), with an lr far too large for it
    try:
        summary, lines = _rest(steep, service_url, "worse", "--dim", "4", "--steps", "30", "--lr", "500",
                               "--seed", "2")
    finally:
        steep.close()
    (line,) = lines
    assert line.startswith(f"zoadamm-worker: f at {steep.url} ended above where it began (36 at the first step, ")
    assert f"over 30 steps; session {summary['session']})" in line
    assert line.endswith("a smaller --lr than 500 or more --directions than 1 usually steadies a run")


def test_a_run_that_improves_says_nothing(service_url):
    good = HoldingObjective()
    try:
        summary, lines = _rest(good, service_url, "good", "--dim", "4", "--steps", "30", "--lr", "0.05",
                               "--seed", "2")
    finally:
        good.close()
    assert summary["f"] < 36 and lines == []
