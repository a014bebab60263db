"""The victim's model file: a trained ``ModularCNN`` as a ``state_dict`` plus its scale.

``torch.load(path, weights_only=True)`` reads it: the file holds only tensors, floats and
bools, so loading it runs no code.  ``normalize`` records whether the model was trained on
pixels centred with MNIST's mean and std; the victim then centres its inputs the same way, and
an attacker still works on pixels in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .mnist import PIXEL_MEAN, PIXEL_STD
from .model import ModularCNN, load_flat

FORMAT = 1


class ModelFileError(ValueError):
    """A model file that is not a saved ``ModularCNN``."""


def save_model(path: str | Path, flat: np.ndarray, scale: float, normalize: bool) -> None:
    """Write the CNN with flat parameters ``flat`` at ``scale`` to ``path``.

    Raises:
        ValueError: ``flat`` does not have the parameter count of ``scale``.
        OSError: ``path`` cannot be written, naming it.
    """
    model = ModularCNN(scale)
    load_flat(model, np.asarray(flat, dtype=np.float32))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # opened here, not by torch.save: a path that cannot be written is then an OSError naming it,
    # where torch's own writer raises a RuntimeError that names neither
    with path.open("wb") as file:
        torch.save({"format": FORMAT, "scale": float(scale), "normalize": bool(normalize),
                    "state_dict": model.state_dict()}, file)


class Classifier(torch.nn.Module):
    """Pixels in [0, 1], shape (N, 1, 28, 28) -> logits (N, 10): the model with its input scaling."""

    def __init__(self, model: ModularCNN, normalize: bool) -> None:
        super().__init__()
        self.model, self.normalize = model.eval(), normalize

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            images = (images - PIXEL_MEAN) / PIXEL_STD
        return self.model(images)


def load_model(path: str | Path) -> Classifier:
    """The classifier saved at ``path`` by :func:`save_model`.

    Raises:
        OSError: the file cannot be read.
        ModelFileError: it is not a model file of this format, or its tensors do not fit its scale.
    """
    try:
        saved = torch.load(Path(path), weights_only=True)
    except OSError:
        raise
    except Exception:  # on garbage torch's legacy loader fails with KeyError, IndexError and others alike
        # torch's own message suggests weights_only=False, which would run the file's code
        raise ModelFileError(f"{path}: not a model file (torch cannot read it with weights_only=True); "
                             "write one with `zoadamm-worker mnist --save`") from None
    if not (isinstance(saved, dict) and saved.get("format") == FORMAT and _is_scale(saved.get("scale"))
            and isinstance(saved.get("normalize"), bool) and isinstance(saved.get("state_dict"), dict)):
        raise ModelFileError(f"{path}: not a model file of format {FORMAT}")
    try:
        model = ModularCNN(saved["scale"])
        model.load_state_dict(saved["state_dict"])
    except (RuntimeError, KeyError, ValueError) as error:
        raise ModelFileError(f"{path}: its weights do not fit scale {saved['scale']} ({error})") from None
    return Classifier(model, saved["normalize"])


def _is_scale(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
