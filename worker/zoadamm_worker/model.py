"""The paper's "modular" CNN for MNIST, and its parameters as ONE flat float32 vector.

conv(1->3, 5x5) -> ReLU -> maxpool 2 -> conv(3->3, 3x3) -> ReLU -> maxpool 2 -> flatten (75)
-> fc(75 -> h1) -> ReLU -> fc(h1 -> h2) -> ReLU -> fc(h2 -> 10),
h1 = max(10, int(120 s)), h2 = max(10, int(sqrt(120 s))).  s = 1/9 gives d = 1,400 and
s = 119.888885 gives d = 2,806,751.

The flat layout is ``named_parameters()`` order, each tensor row-major (C order):
conv1.weight (3,1,5,5), conv1.bias (3), conv2.weight (3,3,3,3), conv2.bias (3),
fc1.weight (h1,75), fc1.bias (h1), fc2.weight (h2,h1), fc2.bias (h2), fc3.weight (10,h2),
fc3.bias (10).  The service only ever sees this vector, so the order is part of the contract.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

CLASSES = 10
FEATURES = 75  # 3 channels x 5 x 5 after two conv/pool stages on 28 x 28
BIAS_INIT = 0.01
Flat = TypeVar("Flat", torch.Tensor, np.ndarray)


def hidden_sizes(scale: float) -> tuple[int, int]:
    """(h1, h2) for model scale ``s``.

    Raises:
        ValueError: ``scale`` is not a positive finite number.
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    width = 120 * scale
    return max(10, int(width)), max(10, int(math.sqrt(width)))


def parameter_shapes(scale: float) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every parameter, in flat-vector order."""
    h1, h2 = hidden_sizes(scale)
    return [
        ("conv1.weight", (3, 1, 5, 5)), ("conv1.bias", (3,)),
        ("conv2.weight", (3, 3, 3, 3)), ("conv2.bias", (3,)),
        ("fc1.weight", (h1, FEATURES)), ("fc1.bias", (h1,)),
        ("fc2.weight", (h2, h1)), ("fc2.bias", (h2,)),
        ("fc3.weight", (CLASSES, h2)), ("fc3.bias", (CLASSES,)),
    ]


def parameter_count(scale: float) -> int:
    """d, the length of the flat parameter vector (computed without building the model)."""
    return sum(math.prod(shape) for _, shape in parameter_shapes(scale))


def layout(scale: float) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """(name, start, stop, shape) of every parameter's slice of the flat vector."""
    spans, start = [], 0
    for name, shape in parameter_shapes(scale):
        stop = start + math.prod(shape)
        spans.append((name, start, stop, shape))
        start = stop
    return spans


class ModularCNN(nn.Module):
    """The paper's CNN; ``forward`` returns logits of shape (N, 10)."""

    def __init__(self, scale: float, seed: int | None = None) -> None:
        super().__init__()
        h1, h2 = hidden_sizes(scale)
        self.scale = scale
        self.conv1 = nn.Conv2d(1, 3, 5)
        self.conv2 = nn.Conv2d(3, 3, 3)
        self.fc1 = nn.Linear(FEATURES, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, CLASSES)
        if seed is not None:
            initialize(self, seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The reference forward pass, built from stock layers as the paper's code was."""
        h = F.max_pool2d(F.relu(self.conv1(images)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(h)))))


def initialize(model: ModularCNN, seed: int) -> None:
    """Xavier-normal weights drawn from a generator seeded ``seed``, biases 0.01 (as the paper)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.fill_(BIAS_INIT)
            else:
                # drawn on the CPU generator so a seed gives the same weights on every device
                weight = torch.empty(parameter.shape, dtype=torch.float32)
                nn.init.xavier_normal_(weight, generator=generator)
                parameter.copy_(weight)


def max_pool2(h: torch.Tensor) -> torch.Tensor:
    """2 x 2 max pooling with stride 2 over the last two (even) dimensions.

    Equal to ``F.max_pool2d(h, 2)`` bit for bit (a max is exact), and faster on CPU for these
    few-channel maps, where the stock kernel took most of the forward pass.
    """
    rows = torch.maximum(h[..., 0::2], h[..., 1::2])
    return torch.maximum(rows[..., 0::2, :], rows[..., 1::2, :])


def forward(params: list[torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """Logits (N, 10) of the CNN with ``params`` in flat-vector order, for images (N, 1, 28, 28).

    The same function as ``ModularCNN.forward``, bit for bit, but faster: the faster pooling,
    ReLU after pooling (they commute exactly, and a quarter of the values remain), in place.
    """
    w1, b1, w2, b2, f1, c1, f2, c2, f3, c3 = params
    h = max_pool2(F.conv2d(images, w1, b1)).relu_()
    h = max_pool2(F.conv2d(h, w2, b2)).relu_().flatten(1)
    h = F.linear(h, f1, c1).relu_()
    h = F.linear(h, f2, c2).relu_()
    return F.linear(h, f3, c3)


def views(flat: Flat, scale: float) -> list[Flat]:
    """Zero-copy views of a flat (d,) tensor as the parameter tensors, in flat-vector order
    (of a flat numpy vector: numpy views).

    Raises:
        ValueError: ``flat`` does not have ``parameter_count(scale)`` elements.
    """
    spans = layout(scale)
    if flat.ndim != 1 or flat.shape[0] != spans[-1][2]:
        raise ValueError(f"flat vector must have shape ({spans[-1][2]},), got {tuple(flat.shape)}")
    return [flat[start:stop].reshape(shape) for _, start, stop, shape in spans]


def named_arrays(x: np.ndarray, scale: float) -> dict[str, np.ndarray]:
    """Zero-copy numpy views of a flat float32 vector as the named parameter arrays (``views``)."""
    return {name: view for (name, *_), view in zip(layout(scale), views(x, scale), strict=True)}


def to_flat(model: nn.Module, out: np.ndarray | None = None) -> np.ndarray:
    """The model's parameters as one float32 numpy vector (a copy, or written into ``out``).

    Raises:
        ValueError: ``out`` is not float32 of the model's length.
    """
    d = sum(p.numel() for p in model.parameters())
    if out is None:
        out = np.empty(d, dtype=np.float32)
    elif out.dtype != np.float32 or out.shape != (d,):
        raise ValueError(f"out must be float32 of shape ({d},)")
    target = torch.from_numpy(out)  # zero-copy: writing the view fills ``out``
    start = 0
    with torch.no_grad():
        for p in model.parameters():
            target[start : start + p.numel()].copy_(p.detach().reshape(-1))
            start += p.numel()
    return out


def load_flat(model: nn.Module, flat: np.ndarray | torch.Tensor) -> None:
    """Copy a flat vector into the model's parameters.

    Raises:
        ValueError: the vector's length differs from the model's parameter count.
    """
    source = torch.as_tensor(flat).reshape(-1)
    d = sum(p.numel() for p in model.parameters())
    if source.numel() != d:
        raise ValueError(f"flat vector has {source.numel()} values, the model has {d}")
    start = 0
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(source[start : start + p.numel()].view(p.shape))
            start += p.numel()


def initial_parameters(scale: float, seed: int) -> np.ndarray:
    """x0: the flat float32 vector of a freshly initialised ``ModularCNN(scale, seed)``."""
    return to_flat(ModularCNN(scale, seed))
