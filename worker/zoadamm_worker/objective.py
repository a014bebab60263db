"""The paper's MNIST objective: minibatch cross-entropy of the modular CNN at a flat vector x.

ZO steps need f(x) and f(x +- mu u_i) for the q directions of a step: ``zo_losses`` evaluates
them all in one grouped forward pass over a (rows, d) stack of parameter vectors (conv layers
as grouped convolutions, fc layers as batched matmuls), split into a few passes only when the
activations of the widest models would not fit in cache.  ``implementation="loop"`` is the plain
one-forward-per-point reference (``benchmarks/bench_zo_forward.py`` compares the two).

Hot-path habits: x is read through ``torch.from_numpy`` (zero-copy, never written), directions
are generated straight into a reused stack buffer, and minibatches are views of tensors built
once.  Losses are mean cross-entropies over the minibatch (Eq. 3: one direction per minibatch).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

import zoadamm
from zoadamm import DIFFERENCES

from .mnist import MnistData, load_mnist, to_tensors
from .model import ModularCNN, forward, hidden_sizes, layout, load_flat, max_pool2

IMPLEMENTATIONS = ("grouped", "loop")
# Rows of the stack evaluated together: at most this many floats of fc1 activations, so that
# the widest models' passes stay in cache (benchmarks/bench_zo_forward.py measures the choice).
GROUP_FLOATS = 1 << 22


class DirectionSpec(NamedTuple):
    """The q directions of one step, regenerated with ``zoadamm.direction`` (never sent)."""

    seed: int
    step: int
    q: int  # how many: the step's directions 0 .. q-1
    distribution: str = "sphere"


@dataclass(frozen=True)
class Batch:
    """Minibatch ``index`` of an epoch: images (B, 1, 28, 28) float32, labels (B,) int64."""

    index: int
    images: torch.Tensor
    labels: torch.Tensor


class MnistObjective:
    """f(x) = mean cross-entropy of ``ModularCNN(scale)`` with parameters x on a minibatch.

    The paper did not shuffle the training set; ``shuffle=True`` draws
    one permutation per epoch from ``(seed, epoch)``.  ``train_limit`` keeps only the first N
    training images (smoke runs and tests).  ``eval_batch_size`` (rows per forward pass in
    ``evaluate``) defaults to what keeps the widest activation near 64 MB.  Not thread-safe:
    evaluations share reused buffers.  ``normalize`` centres the pixels with MNIST's mean and
    std (``mnist.to_tensors``).

    Raises:
        ValueError: a non-positive batch size or train_limit, an unknown implementation.
    """

    def __init__(self, scale: float, data: MnistData | None = None, batch_size: int = 128,
                 device: str | torch.device = "cpu",
                 shuffle: bool = False, seed: int = 0, implementation: str = "grouped",
                 train_limit: int | None = None, eval_batch_size: int | None = None,
                 normalize: bool = False) -> None:
        if batch_size < 1 or (train_limit is not None and train_limit < 1):
            raise ValueError(f"batch_size and train_limit must be positive, got {batch_size}, {train_limit}")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        self.scale, self.batch_size, self.shuffle, self.seed = scale, batch_size, shuffle, seed
        self.implementation = implementation
        self.device = torch.device(device)
        self.spans = [(start, stop, shape) for _, start, stop, shape in layout(scale)]
        self.dim = self.spans[-1][1]
        self.h1, self.h2 = hidden_sizes(scale)
        self.group = max(1, GROUP_FLOATS // (batch_size * self.h1))
        # evaluation rows per pass: as many as keep the widest activation near 64 MB
        self.eval_batch_size = eval_batch_size or int(np.clip((1 << 24) // max(self.h1, 1728), 500, 10_000))
        data = data if data is not None else load_mnist()
        images, labels = data.split("train")
        self._train = to_tensors(images[:train_limit], labels[:train_limit], self.device, normalize)
        self._test = to_tensors(*data.split("test"), device=self.device, normalize=normalize)
        self._model = ModularCNN(scale).to(self.device)  # holds parameters for autograd only
        self._stack: tuple[torch.Tensor, np.ndarray] | None = None  # reused (rows, d) buffer
        self._order: tuple[int, torch.Tensor] | None = None  # (epoch, permutation)

    # -- minibatches ---------------------------------------------------------------------------

    @property
    def num_batches(self) -> int:
        """Minibatches per epoch; the last one is smaller when batch_size does not divide 60k."""
        return -(-len(self._train[1]) // self.batch_size)

    def batch(self, epoch: int, index: int) -> Batch:
        """Minibatch ``index`` of ``epoch``; raises IndexError outside ``range(num_batches)``."""
        if not 0 <= index < self.num_batches:
            raise IndexError(f"batch index {index} outside 0..{self.num_batches - 1}")
        images, labels = self._train
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if not self.shuffle:
            return Batch(index, images[window], labels[window])  # views: no copy
        if self._order is None or self._order[0] != epoch:
            permutation = np.random.default_rng([self.seed, epoch]).permutation(len(labels))
            self._order = (epoch, torch.from_numpy(permutation).to(self.device))
        chosen = self._order[1][window]
        return Batch(index, images.index_select(0, chosen), labels.index_select(0, chosen))

    def batches(self, epoch: int) -> Iterator[Batch]:
        """The minibatches of ``epoch`` in order (the same order for every epoch unless shuffled)."""
        return (self.batch(epoch, index) for index in range(self.num_batches))

    # -- evaluations ---------------------------------------------------------------------------

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        """x as a float32 tensor on the device, zero-copy on CPU; raises ValueError on a bad x."""
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.shape != (self.dim,):
            raise ValueError(f"x must be a float32 numpy array of shape ({self.dim},)")
        with warnings.catch_warnings():  # a read-only x (np.frombuffer) is fine: never written
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(np.ascontiguousarray(x)).to(self.device)

    def _views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        return [flat[start:stop].view(shape) for start, stop, shape in self.spans]

    def loss(self, x: np.ndarray, batch: Batch) -> float:
        """Mean cross-entropy of the minibatch at x."""
        with torch.inference_mode():
            logits = forward(self._views(self._tensor(x)), batch.images)
            return float(F.cross_entropy(logits, batch.labels))

    def zo_losses(self, x: np.ndarray, batch: Batch, directions: DirectionSpec | tuple | np.ndarray,
                  mu: float, difference: str = "forward", implementation: str | None = None,
                  ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """(f(x), f(x + mu u_i) for i < q, f(x - mu u_i) or None) on one minibatch.

        ``directions`` is a ``DirectionSpec`` (or a ``(seed, step, q, distribution)``
        tuple), regenerated with ``zoadamm.direction``, or the (q, d) float32 vectors themselves.
        Perturbed points are computed as ``x + float32(mu) * u`` in float32, as
        ``zoadamm.zo_gradient`` does.  f(x) is always evaluated (it is the step's training loss).

        Raises:
            ValueError: a bad x or directions array, mu <= 0, an unknown difference or
                implementation.
            zoadamm.InvalidArgument: a DirectionSpec that ``zoadamm.direction`` rejects.
        """
        if difference not in DIFFERENCES:
            raise ValueError(f"difference must be one of {DIFFERENCES}, got {difference!r}")
        if not mu > 0:
            raise ValueError(f"mu must be positive, got {mu!r}")
        implementation = implementation or self.implementation
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        fill, q = self._direction_source(directions)
        x_t = self._tensor(x)
        signs = (1.0,) if difference == "forward" else (1.0, -1.0)
        with torch.inference_mode():
            if implementation == "loop":
                values = self._loop(x, x_t, batch, fill, q, signs, np.float32(mu))
            else:
                values = self._grouped(x, x_t, batch, fill, q, signs, np.float32(mu))
        f_x, plus = float(values[0]), values[1 : q + 1]
        return f_x, plus, (values[q + 1 :] if difference == "central" else None)

    def _direction_source(self, directions):
        """(fill(first, rows), q): writes directions first, first + 1, ... into the float32 rows
        (k, d) of ``rows`` (made by ``zoadamm.direction_rows`` from a spec)."""
        if isinstance(directions, np.ndarray):
            if directions.dtype != np.float32 or directions.ndim != 2 or directions.shape[1] != self.dim \
                    or len(directions) < 1:
                raise ValueError(f"directions must be float32 of shape (q, {self.dim}), "
                                 f"got {directions.dtype} {directions.shape}")
            return (lambda first, rows: np.copyto(rows, directions[first:first + len(rows)])), len(directions)
        seed, step, q, distribution = DirectionSpec(*directions)

        def made(first: int, rows: np.ndarray) -> None:
            zoadamm.direction_rows(seed, step, range(first, first + len(rows)), self.dim, distribution, out=rows)

        return made, int(q)

    def _loop(self, x, x_t, batch, fill, q, signs, mu) -> np.ndarray:
        """One forward pass per point: the reference for ``_grouped``."""
        stack, host = self._buffer(2)
        u, point = host
        values = [float(F.cross_entropy(forward(self._views(x_t), batch.images), batch.labels))]
        for sign in signs:
            for index in range(q):
                fill(index, u.reshape(1, -1))
                np.multiply(u, sign * mu, out=point)  # float32(mu) * u, negated exactly for -
                point += x
                self._upload(stack, host)
                logits = forward(self._views(stack[1]), batch.images)
                values.append(float(F.cross_entropy(logits, batch.labels)))
        return np.array(values)

    def _grouped(self, x, x_t, batch, fill, q, signs, mu) -> np.ndarray:
        """All points in as few grouped forward passes as ``self.group`` allows."""
        rows = q * len(signs)
        with_x = rows + 1 <= self.group  # x rides along in the stack when it all fits one pass
        stack, host = self._buffer(rows + with_x)
        if with_x:
            host[0] = x
        fill(0, host[with_x:with_x + q])
        for index in range(q):
            plus = host[with_x + index]
            if len(signs) == 2:
                minus = host[with_x + q + index]
                np.multiply(plus, -mu, out=minus)
                minus += x
            plus *= mu
            plus += x
        self._upload(stack, host)
        losses = torch.cat([self._stacked_losses(stack[start : start + self.group], batch)
                            for start in range(0, len(stack), self.group)]).cpu().numpy()
        if with_x:
            return losses.astype(np.float64)
        f_x = F.cross_entropy(forward(self._views(x_t), batch.images), batch.labels)
        return np.concatenate([[float(f_x)], losses.astype(np.float64)])

    def _buffer(self, rows: int) -> tuple[torch.Tensor, np.ndarray]:
        """(device tensor, host array) of ``rows`` d-vectors, reused across calls; on CPU the
        two share memory, elsewhere the host array stages the directions."""
        if self._stack is None or len(self._stack[1]) < rows:
            host = np.empty((rows, self.dim), dtype=np.float32)
            device = torch.from_numpy(host)
            self._stack = (device if self.device.type == "cpu" else device.to(self.device), host)
        return self._stack[0][:rows], self._stack[1][:rows]

    def _upload(self, stack: torch.Tensor, host: np.ndarray) -> None:
        if self.device.type != "cpu":
            stack.copy_(torch.from_numpy(host))

    def _stacked_losses(self, stack: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Mean cross-entropy (rows,) of every parameter vector in ``stack`` (rows, d).

        P networks at once: conv1 sees the shared images with all 3P filters, conv2 is a grouped
        convolution, and each fc layer a batched matmul over the P weight matrices (views).
        """
        p, n = len(stack), len(batch.labels)
        w = [stack[:, start:stop] for start, stop, _ in self.spans]
        h = max_pool2(F.conv2d(batch.images, w[0].reshape(3 * p, 1, 5, 5), w[1].reshape(-1))).relu_()
        h = max_pool2(F.conv2d(h, w[2].reshape(3 * p, 3, 3, 3), w[3].reshape(-1), groups=p)).relu_()
        h = h.reshape(n, p, -1).transpose(0, 1)  # (P, N, 75): channel groups are networks
        for k, (out, inp) in enumerate([(self.h1, 75), (self.h2, self.h1), (10, self.h2)]):
            weight = w[4 + 2 * k].view(p, out, inp)
            h = torch.baddbmm(w[5 + 2 * k].unsqueeze(1), h, weight.transpose(1, 2))
            h = h.relu_() if k < 2 else h
        losses = F.cross_entropy(h.reshape(p * n, 10), batch.labels.repeat(p), reduction="none")
        return losses.view(p, n).mean(1)

    def gradient(self, x: np.ndarray, batch: Batch, out: np.ndarray | None = None
                 ) -> tuple[float, np.ndarray]:
        """(loss, d loss / dx as float32) on one minibatch, by autograd (the first-order worker).

        Raises:
            ValueError: a bad x, or ``out`` not float32 of shape (d,).
        """
        if out is None:
            out = np.empty(self.dim, dtype=np.float32)
        elif out.dtype != np.float32 or out.shape != (self.dim,):
            raise ValueError(f"out must be float32 of shape ({self.dim},)")
        load_flat(self._model, self._tensor(x))
        self._model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self._model(batch.images), batch.labels)
        loss.backward()
        target = torch.from_numpy(out)
        for (start, stop, _), parameter in zip(self.spans, self._model.parameters(), strict=True):
            assert parameter.grad is not None  # backward() just filled every parameter's
            target[start:stop].copy_(parameter.grad.reshape(-1))
        return float(loss.detach()), out

    def evaluate(self, x: np.ndarray, split: str = "test") -> tuple[float, float]:
        """(mean cross-entropy, accuracy) over a whole split, ``"test"`` or ``"train"``.

        Raises:
            ValueError: a bad x or split.
        """
        if split not in ("test", "train"):
            raise ValueError(f"split must be 'test' or 'train', got {split!r}")
        images, labels = self._test if split == "test" else self._train
        params = self._views(self._tensor(x))
        chunk = self.eval_batch_size
        total, correct = 0.0, 0
        with torch.inference_mode():
            for start in range(0, len(labels), chunk):
                logits = forward(params, images[start : start + chunk])
                target = labels[start : start + chunk]
                total += float(F.cross_entropy(logits, target, reduction="sum"))
                correct += int((logits.argmax(1) == target).sum())
        return total / len(labels), correct / len(labels)
