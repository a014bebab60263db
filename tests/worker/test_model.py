"""The modular CNN, its flat parameter vector, and the MNIST objective's evaluations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import zoadamm
from zoadamm_worker import model as M
from zoadamm_worker.mnist import MnistData, to_tensors
from zoadamm_worker.objective import DirectionSpec, MnistObjective

SMALL = 1 / 9  # d = 1,400
LARGE = 119.888885  # d = 2,806,751


@pytest.fixture(scope="module")
def data() -> MnistData:
    """Small random stand-in for MNIST: these tests check arithmetic, not accuracy."""
    rng = np.random.default_rng(7)
    images = lambda n: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)  # noqa: E731
    labels = lambda n: rng.integers(0, 10, n).astype(np.uint8)  # noqa: E731
    return MnistData(images(300), labels(300), images(1300), labels(1300))


@pytest.fixture(scope="module")
def objective(data) -> MnistObjective:
    return MnistObjective(SMALL, data, batch_size=128)


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return M.initial_parameters(SMALL, seed=3)


def test_parameter_counts_of_the_paper_sizes():
    assert M.parameter_count(SMALL) == 1400
    assert M.parameter_count(LARGE) == 2_806_751
    assert M.hidden_sizes(SMALL) == (13, 10) and M.hidden_sizes(LARGE) == (14386, 119)
    for scale in (SMALL, LARGE):  # the closed form agrees with the module (built, not trained)
        assert sum(p.numel() for p in M.ModularCNN(scale).parameters()) == M.parameter_count(scale)
    with pytest.raises(ValueError):
        M.hidden_sizes(0.0)


def test_flat_layout_follows_named_parameters():
    model = M.ModularCNN(SMALL)
    spans = M.layout(SMALL)
    assert [name for name, *_ in spans] == [name for name, _ in model.named_parameters()]
    assert [shape for *_, shape in spans] == [tuple(p.shape) for p in model.parameters()]
    assert spans[0][1] == 0 and all(a[2] == b[1] for a, b in itertools.pairwise(spans))


def test_initialisation_is_determined_by_the_seed():
    a, b, c = (M.initial_parameters(SMALL, seed) for seed in (5, 5, 6))
    assert a.dtype == np.float32 and a.shape == (1400,)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for name, start, stop, shape in M.layout(SMALL):
        values = a[start:stop]
        if name.endswith("bias"):
            assert np.all(values == np.float32(0.01)), name
        else:  # Xavier-normal: zero mean, variance 2 / (fan_in + fan_out)
            fan_in = math.prod(shape[1:])
            fan_out = shape[0] * math.prod(shape[2:])
            assert abs(values.std() / math.sqrt(2 / (fan_in + fan_out)) - 1) < 0.5, name


def test_flat_vector_round_trip():
    x = M.initial_parameters(SMALL, seed=1)
    model = M.ModularCNN(SMALL, seed=2)
    M.load_flat(model, x)
    assert np.array_equal(M.to_flat(model), x)
    out = np.empty_like(x)
    assert M.to_flat(model, out=out) is out and np.array_equal(out, x)
    flat = torch.from_numpy(x)
    views = M.views(flat, SMALL)
    for view, parameter in zip(views, model.parameters(), strict=True):
        assert torch.equal(view, parameter.detach())
        assert view.untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()  # no copies
    arrays = M.named_arrays(x, SMALL)
    for (name, array), (pname, parameter) in zip(arrays.items(), model.named_parameters(), strict=True):
        assert name == pname and np.array_equal(array, parameter.detach().numpy())
        assert np.shares_memory(array, x)
    with pytest.raises(ValueError):
        M.named_arrays(x[1:], SMALL)
    with pytest.raises(ValueError):
        M.load_flat(model, x[:-1])
    with pytest.raises(ValueError):
        M.views(flat[:-1], SMALL)


def test_functional_forward_equals_the_module_exactly(data):
    model = M.ModularCNN(SMALL, seed=4)
    images, _ = to_tensors(data.test_images[:64], data.test_labels[:64])
    with torch.no_grad():
        assert torch.equal(M.forward(list(model.parameters()), images), model(images))
        h = torch.randn(5, 6, 24, 24)
        assert torch.equal(M.max_pool2(h), F.max_pool2d(h, 2))


def loop_reference(objective, x, batch, u, mu, difference):
    """f at each perturbed point, one plain ``loss`` call per point."""
    mu32 = np.float32(mu)
    plus = [objective.loss(x + mu32 * ui, batch) for ui in u]
    minus = [objective.loss(x - mu32 * ui, batch) for ui in u] if difference == "central" else None
    return objective.loss(x, batch), plus, minus


@pytest.mark.parametrize("difference", ["forward", "central"])
@pytest.mark.parametrize("q, distribution", [(1, "sphere"), (3, "gaussian"), (8, "sphere")])
def test_zo_losses_batched_equals_plain_loop(objective, x, q, distribution, difference):
    batch = objective.batch(0, 1)
    spec = DirectionSpec(seed=11, step=4, q=q, distribution=distribution)
    u = zoadamm.directions(11, 4, q, objective.dim, distribution)
    mu = 5e-3
    f_x, plus, minus = loop_reference(objective, x, batch, u, mu, difference)
    loop = objective.zo_losses(x, batch, spec, mu, difference, implementation="loop")
    # the loop evaluates exactly zoadamm's vectors, so its values match bit for bit
    assert loop[0] == f_x and loop[1].tolist() == plus
    assert (loop[2] is None) if minus is None else (loop[2].tolist() == minus)
    for run in (objective.zo_losses(x, batch, spec, mu, difference),
                objective.zo_losses(x, batch, u, mu, difference)):  # the vectors passed in
        assert run[0] == pytest.approx(f_x, abs=1e-5)
        np.testing.assert_allclose(run[1], plus, atol=1e-5, rtol=0)
        if minus is None:
            assert run[2] is None
        else:
            np.testing.assert_allclose(run[2], minus, atol=1e-5, rtol=0)
    assert len(set(np.round(loop[1], 7))) == q  # distinct directions really moved the loss


def test_zo_losses_in_several_grouped_passes(data, x):
    narrow = MnistObjective(SMALL, data)
    narrow.group = 2  # as for the widest models: x alone, then the stack two rows at a time
    batch = narrow.batch(0, 0)
    spec = DirectionSpec(2, 9, 5, "sphere")
    wide = narrow.zo_losses(x, batch, spec, 1e-2, "central", implementation="loop")
    split = narrow.zo_losses(x, batch, spec, 1e-2, "central")
    assert split[0] == wide[0]  # f(x) by the same single forward pass
    np.testing.assert_allclose(split[1], wide[1], atol=1e-5, rtol=0)
    np.testing.assert_allclose(split[2], wide[2], atol=1e-5, rtol=0)


def test_zo_losses_rejects_bad_input(objective, x):
    batch = objective.batch(0, 0)
    with pytest.raises(ValueError):
        objective.zo_losses(x.astype(np.float64), batch, DirectionSpec(0, 0, 1), 1e-3)
    with pytest.raises(ValueError):
        objective.zo_losses(x, batch, np.zeros((2, 5), np.float32), 1e-3)
    with pytest.raises(ValueError):
        objective.zo_losses(x, batch, DirectionSpec(0, 0, 1), 0.0)
    with pytest.raises(ValueError):
        objective.zo_losses(x, batch, DirectionSpec(0, 0, 1), 1e-3, "backward")
    with pytest.raises(zoadamm.InvalidArgument):
        objective.zo_losses(x, batch, DirectionSpec(0, 0, 1, "cube"), 1e-3)


def test_read_only_parameters_are_accepted(objective, x):
    frozen = np.frombuffer(x.tobytes(), dtype=np.float32)  # as parameters arrive over HTTP
    batch = objective.batch(0, 0)
    assert objective.loss(frozen, batch) == objective.loss(x, batch)


def test_gradient_matches_autograd_of_the_plain_model(objective, x):
    batch = objective.batch(0, 2)  # the short last batch (300 = 128 + 128 + 44)
    assert len(batch.labels) == 44
    loss, g = objective.gradient(x, batch)
    model = M.ModularCNN(SMALL)
    M.load_flat(model, x)
    reference = F.cross_entropy(model(batch.images), batch.labels)
    reference.backward()
    expected = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).numpy()
    assert loss == pytest.approx(float(reference.detach()), abs=1e-6)
    assert g.dtype == np.float32 and g.shape == x.shape
    np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-7)


def test_gradient_matches_finite_differences(objective, x):
    batch = objective.batch(0, 0)
    _, g = objective.gradient(x, batch)
    model = M.ModularCNN(SMALL).double()
    images, labels = batch.images.double(), batch.labels

    def f(point: np.ndarray) -> float:
        M.load_flat(model, torch.from_numpy(point))
        with torch.no_grad():
            return float(F.cross_entropy(model(images), labels))

    base, h = x.astype(np.float64), 1e-6
    # one coordinate in every layer, plus the largest gradient entry
    coordinates = [start + (stop - start) // 2 for _, start, stop, _ in M.layout(SMALL)]
    for i in coordinates + [int(np.argmax(np.abs(g)))]:
        step = np.zeros_like(base)
        step[i] = h
        estimate = (f(base + step) - f(base - step)) / (2 * h)
        assert g[i] == pytest.approx(estimate, rel=1e-3, abs=1e-6), i


def test_gradient_descends(objective, x):
    batch = objective.batch(0, 0)
    point = x.copy()
    first, _ = objective.gradient(point, batch)
    for _ in range(20):
        _, g = objective.gradient(point, batch)
        point -= np.float32(0.5) * g
    assert objective.loss(point, batch) < first - 0.05


def test_evaluate_equals_a_plain_pass_over_the_split(data, x):
    objective = MnistObjective(SMALL, data, eval_batch_size=500)  # 1,300 rows: 3 passes
    model = M.ModularCNN(SMALL)
    M.load_flat(model, x)
    for split in ("test", "train"):
        images, labels = to_tensors(*data.split(split))
        with torch.no_grad():
            logits = model(images)
        loss, accuracy = objective.evaluate(x, split)
        assert loss == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-5)
        assert accuracy == int((logits.argmax(1) == labels).sum()) / len(labels)
        assert 0.0 <= accuracy <= 1.0
        assert abs(loss - math.log(10)) < 0.5  # a fresh network is close to uniform guessing
    with pytest.raises(ValueError):
        objective.evaluate(x, "valid")


def test_batches_follow_the_training_set_in_order_unless_shuffled(data):
    plain = MnistObjective(SMALL, data, batch_size=128)
    batches = list(plain.batches(epoch=1))
    assert plain.num_batches == 3 and [len(b.labels) for b in batches] == [128, 128, 44]
    assert torch.cat([b.labels for b in batches]).tolist() == data.train_labels.tolist()
    assert [b.labels.tolist() for b in plain.batches(2)] == [b.labels.tolist() for b in batches]
    with pytest.raises(IndexError):
        plain.batch(1, 3)

    shuffled = MnistObjective(SMALL, data, batch_size=128, shuffle=True, seed=4)
    epoch = lambda e: torch.cat([b.labels for b in shuffled.batches(e)]).tolist()  # noqa: E731
    assert epoch(1) == epoch(1) and epoch(1) != epoch(2)
    assert sorted(epoch(1)) == sorted(data.train_labels.tolist())
    batch = shuffled.batch(3, 0)  # images travel with their labels
    position = {img.tobytes(): i for i, img in enumerate(to_tensors(*data.split("train"))[0].numpy())}
    rows = [position[img.tobytes()] for img in batch.images.numpy()]
    assert batch.labels.tolist() == data.train_labels[rows].tolist() and rows != list(range(128))


def test_train_limit_keeps_the_first_images(data):
    limited = MnistObjective(SMALL, data, batch_size=50, train_limit=120)
    assert limited.num_batches == 3
    assert torch.cat([b.labels for b in limited.batches(0)]).tolist() == data.train_labels[:120].tolist()
