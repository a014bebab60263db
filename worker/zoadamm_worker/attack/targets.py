"""The images an attack runs on: MNIST test images [offset, offset + count), of which only
those the victim classifies correctly are attacked (an image it gets wrong is no attack)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..mnist import MnistData, load_mnist
from .objective import Target
from .victim import DEFAULT_MAX_BATCH
from .victim_client import VictimError

SELECTION = "selection"  # the victim's tag (after the run's id) of the requests that check the images
REQUEST_IMAGES = DEFAULT_MAX_BATCH  # images one victim request carries at most (the victim's default limit)


def load_test_images(offset: int, count: int, data: MnistData | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(flat float32 pixels uint8 / 255 (count, 784), labels (count,)) of test images
    [offset, offset + count), loaded offline through ``load_mnist``.

    Raises:
        ValueError: an offset or count outside the 10,000 test images.
    """
    data = data if data is not None else load_mnist()
    images, labels = data.split("test")
    if offset < 0 or count < 1 or offset + count > len(labels):
        raise ValueError(f"images [{offset}, {offset + count}) are not all among the {len(labels)} test images")
    window = slice(offset, offset + count)
    return (images[window].reshape(count, -1) / np.float32(255)).astype(np.float32), labels[window].astype(int)


def select_targets(offset: int, images: np.ndarray, labels: np.ndarray,
                   predict: Callable[[np.ndarray], np.ndarray]) -> tuple[list[Target], list[int]]:
    """(the targets, the test indices skipped as misclassified): ``predict`` maps flat images
    (n, 784) to probabilities (n, 10), called on REQUEST_IMAGES at a time at most."""
    answers = np.concatenate([predict(images[at:at + REQUEST_IMAGES]) for at in range(0, len(images), REQUEST_IMAGES)])
    if len(labels) and answers.shape[1] <= int(np.max(labels)):  # each image would read as misclassified
        raise VictimError(f"the victim answered {answers.shape[1]} probabilities per image, and a label here is "
                          f"{int(np.max(labels))}: its answer must give every class of the test images (MNIST's 10)")
    predicted = np.argmax(answers, axis=1)
    targets, skipped = [], []
    for position, (image, label, guess) in enumerate(zip(images, labels, predicted, strict=True)):
        if guess == label:
            targets.append(Target(offset + position, image, int(label)))
        else:
            skipped.append(offset + position)
    return targets, skipped
