"""White-box PGD (Madry et al. 2018) on the model file itself, through ART's PyTorch
classifier: the upper bound that gradients give.  Its "queries" are forward passes (each with
its backward pass), counted by the model wrapper, not by a victim.

It ascends the margin max_{j≠y} z_j − z_y of the logits (Carlini and Wagner's loss), the
black-box attacks' margin on log-probabilities (the two are equal), rather than the
cross-entropy: on a confidently classified image the softmax rounds to exactly 1 in float32
and the cross-entropy's gradient all but vanishes.
"""

from __future__ import annotations

import numpy as np
import torch
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier

from ..model_file import Classifier
from .objective import Target
from .peers import CLASSES, SHAPE, generate, seed_generators
from .watch import QueryWatch, Stop

PGD_STEPS = 100  # at most; each attack stops at its first success
STEP_FRACTION = 0.1  # of eps per step: the ball's edge in 10 steps, 90 more to move along it


class MarginLoss(torch.nn.Module):
    """The batch's mean of max_{j≠y} z_j − z_y, for logits z and one-hot labels."""

    def forward(self, logits: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
        correct = (logits * one_hot).sum(dim=1)
        others = logits.masked_fill(one_hot.bool(), float("-inf")).amax(dim=1)
        return (others - correct).mean()


class WatchedModel(torch.nn.Module):
    """The classifier, with every forward pass's images counted and watched."""

    def __init__(self, classifier: Classifier, watch: QueryWatch) -> None:
        super().__init__()
        self.classifier, self.watch = classifier, watch

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.watch.done or self.watch.remaining < len(images):
            raise Stop("success" if self.watch.succeeded else "budget spent")
        logits = self.classifier(images)
        with torch.no_grad():
            probabilities = torch.softmax(logits.double(), dim=1).float().numpy()
        self.watch.observe(images.detach().reshape(len(images), -1).numpy(), probabilities)
        return logits


def run_pgd(classifier: Classifier, target: Target, norm: str, eps: float, budget: int, seed: int) -> QueryWatch:
    """PGD on one image, from the image itself (no random start), margin ascent with steps of
    STEP_FRACTION * eps for at most min(budget, PGD_STEPS) steps; returns its watch."""
    seed_generators(seed, target.index)
    watch = QueryWatch(target.image, target.label, budget)
    model = PyTorchClassifier(WatchedModel(classifier, watch), loss=MarginLoss(),
                              input_shape=SHAPE, nb_classes=CLASSES, clip_values=(0.0, 1.0), device_type="cpu")
    attack = ProjectedGradientDescent(model, norm=np.inf if norm == "inf" else 2, eps=eps,
                                      eps_step=STEP_FRACTION * eps, max_iter=min(budget, PGD_STEPS),
                                      num_random_init=0, batch_size=1, verbose=False)
    generate(attack, target)
    return watch

