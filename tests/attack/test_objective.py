"""The attack's objective through the real victim: the margin loss of ZOO and ZO-AdaMM,
every point the victim sees inside X, a ZO step's points in one request, the victim's count
of the first success."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoadamm import directions as make_directions
from zoadamm_worker.attack.feasible import TOLERANCE, PerturbationSet, norms
from zoadamm_worker.attack.objective import KAPPA, L2_PENALTY, AttackObjective, ImageQueries, Target
from zoadamm_worker.attack.victim_client import VictimClient
from zoadamm_worker.attack.watch import LOG_FLOOR, QueryWatch, Stop, margins


class Recording:
    """The victim's predict, keeping every image sent."""

    def __init__(self, victim: VictimClient) -> None:
        self.victim, self.seen, self.requests = victim, [], 0

    def __call__(self, images, tag):
        self.seen.append(np.array(images))
        self.requests += 1
        return self.victim.predict(images, tag)


@pytest.fixture
def victim(victim_url):
    with VictimClient(victim_url) as client:
        yield client


def _objective(victim, target, norm, eps, budget=10_000, tag=None, **kw):
    ask = Recording(victim)
    queries = ImageQueries(ask, target, PerturbationSet(target.image, norm, eps), budget, tag=tag)
    return AttackObjective(queries, **kw), ask


@pytest.mark.parametrize("norm, eps", [("inf", 0.2), ("2", 2.0)])
def test_every_point_is_moved_into_x_and_x_is_left_alone(norm, eps, first_target):
    feasible = PerturbationSet(first_target.image, norm, eps)
    rng = np.random.default_rng(1)
    wild = rng.normal(0, 1.0, size=(50, 784)).astype(np.float32)
    images = feasible.images(wild)
    assert feasible.contains(images).all()
    linf, l2 = norms(images - first_target.image)
    assert (images >= 0).all() and (images <= 1).all()
    assert ((linf if norm == "inf" else l2) <= eps + TOLERANCE).all()
    inside = images - first_target.image  # already in X: P keeps them
    np.testing.assert_allclose(feasible.images(inside), images, atol=1e-6)
    with pytest.raises(ValueError, match="norm"):
        PerturbationSet(first_target.image, "1", eps)


def test_margins_are_negative_exactly_when_another_class_wins():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.5, 0.5, 0.0]])
    values = margins(probabilities, 0)
    assert values[0] == pytest.approx(np.log(0.7 / 0.2)) and values[1] < 0 and values[2] == 0
    assert margins(np.array([[1.0, 0.0, 0.0]]), 0)[0] == pytest.approx(-LOG_FLOOR)  # an underflow stays finite


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_the_loss_is_the_margin_of_the_models_log_probabilities(victim, classifier, first_target, norm):
    objective, ask = _objective(victim, first_target, norm, 0.3)
    deltas = np.random.default_rng(2).uniform(-0.3, 0.3, size=(4, 784)).astype(np.float32)
    values = objective.losses(deltas)
    (images,) = ask.seen
    with torch.inference_mode():
        logits = classifier(torch.from_numpy(images).reshape(-1, 1, 28, 28)).double()
    logs = torch.log_softmax(logits, dim=1).numpy()
    expected = np.maximum(logs[:, first_target.label] - np.delete(logs, first_target.label, 1).max(1), -KAPPA)
    if norm == "2":
        expected += L2_PENALTY * ((images.astype(np.float64) - first_target.image) ** 2).sum(1)
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("difference, per_direction", [("forward", 1), ("central", 2)])
def test_a_zo_step_is_one_request_of_its_points(victim, first_target, difference, per_direction):
    objective, ask = _objective(victim, first_target, "inf", 0.2, tag=f"zo-step-{difference}")
    delta, q, mu = np.full(784, 0.01, dtype=np.float32), 5, 0.005
    f_x, plus, minus = objective.zo_losses(delta, (7, 3, q), mu, difference)
    assert ask.requests == 1 and len(ask.seen[0]) == 1 + per_direction * q
    assert objective.queries.watch.counted == 1 + per_direction * q  # the victim's count of this tag
    assert plus.shape == (q,) and (minus is None) == (difference == "forward")
    u = make_directions(7, 3, q, 784)
    again = objective.zo_losses(delta, u, mu, difference)  # the same directions, given as vectors
    assert again[0] == f_x and np.array_equal(again[1], plus)
    np.testing.assert_array_equal(ask.seen[1][1:], PerturbationSet(first_target.image, "inf", 0.2).images(
        np.concatenate([delta + np.float32(mu) * u] + ([delta - np.float32(mu) * u] if minus is not None else []))))


def test_a_step_the_budget_cannot_cover_is_not_sent(victim, first_target):
    objective, ask = _objective(victim, first_target, "inf", 0.2, budget=4)
    objective.losses(np.zeros((2, 784), np.float32))
    with pytest.raises(Stop):
        objective.zo_losses(np.zeros(784, np.float32), (0, 0, 2), 0.01)  # 3 points, 2 queries left
    assert ask.requests == 1 and objective.queries.watch.remaining == 2


def test_the_first_success_is_counted_where_the_victim_saw_it(victim, test_window, first_target):
    images, labels = test_window
    other = int(np.flatnonzero(labels != first_target.label)[0])  # an image of another digit
    objective, ask = _objective(victim, first_target, "inf", 1.0)
    objective.losses(np.zeros((3, 784), np.float32))
    batch = np.zeros((4, 784), np.float32)
    batch[2] = images[other] - first_target.image  # eps 1: the whole other digit is in X
    objective.losses(batch)
    outcome = objective.queries.watch.outcome()
    assert objective.done and outcome.success and outcome.queries == 3 + 3
    assert outcome.predicted != first_target.label and outcome.margin < 0
    np.testing.assert_allclose(outcome.delta, batch[2], atol=1e-6)


def test_a_failure_keeps_the_best_point_and_all_the_queries(first_target):
    watch = QueryWatch(first_target.image, 0, budget=10)
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2]])
    watch.observe(np.zeros((3, 784), np.float32) + first_target.image, probs, counted=3)
    outcome = watch.outcome()
    assert not outcome.success and outcome.queries == 3 and outcome.margin == pytest.approx(np.log(1.5))
    assert not watch.done and watch.remaining == 7


def test_targets_carry_their_victim_tag():
    assert Target(17, np.zeros(784, np.float32), 3).tag == "image-17"


def test_the_attacker_counts_what_it_sends_and_a_victim_that_counts_otherwise_is_refused(first_target):
    from zoadamm_worker.attack.victim_client import VictimError

    probs = np.array([[0.9, 0.1], [0.8, 0.2]])
    images = np.zeros((2, 784), np.float32) + first_target.image
    alone = QueryWatch(first_target.image, 0, budget=10)  # a victim that says no count of its own
    alone.observe(images, probs)
    alone.observe(images, probs)
    assert alone.counted == 4 and alone.remaining == 6
    agreeing = QueryWatch(first_target.image, 0, budget=10)  # a tag the victim had seen 7 images of
    agreeing.observe(images, probs, counted=9)
    agreeing.observe(images, probs, counted=11)
    assert agreeing.counted == 4
    per_request = QueryWatch(first_target.image, 0, budget=10)  # counts requests, not images
    per_request.observe(images, probs, counted=1)
    with pytest.raises(VictimError, match="the victim counted 3 queries of this attack's tag where 4 images were sent"):
        per_request.observe(images, probs, counted=2)
