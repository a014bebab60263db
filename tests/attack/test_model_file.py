"""``mnist --save``: the trained model as a state_dict plus its scale, loaded with
``weights_only=True``, classifying exactly as the trained parameters do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from zoadamm_service.launch import local_service
from zoadamm_worker.mnist import load_mnist, to_tensors
from zoadamm_worker.model import forward, initial_parameters, views
from zoadamm_worker.model_file import ModelFileError, load_model, save_model
from zoadamm_worker.train import RunSpec, train

BIN = Path(sys.executable).parent


def test_training_saves_the_model_it_trained(tmp_path):
    data = load_mnist()
    path = tmp_path / "model.pt"
    spec = RunSpec(method="adamm", epochs=1, max_steps=30, train_limit=1280, seed=2, normalize=True,
                   save_weights=True)
    with local_service() as url:
        (row,) = train(spec, url, data=data, progress=False, save=path)
    saved = torch.load(path, weights_only=True)
    assert saved["scale"] == spec.scale and saved["normalize"] is True
    assert set(saved["state_dict"]) == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
                                        "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"}
    images, _ = to_tensors(*data.split("test"))
    images = images[:500]
    trained = torch.from_numpy(np.asarray(row["weights"], dtype=np.float32))
    with torch.inference_mode():
        expected = forward(views(trained, spec.scale), (images - 0.1307) / 0.3081)
        np.testing.assert_array_equal(load_model(path)(images).numpy(), expected.numpy())


def test_a_file_that_is_not_a_model_is_refused_by_name(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="junk.pt: not a model file"):
        load_model(junk)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not a model file of format"):
        load_model(tmp_path / "other.pt")
    wrong = tmp_path / "wrong.pt"
    save_model(wrong, initial_parameters(1 / 9, 0), 1 / 9, normalize=False)
    saved = torch.load(wrong, weights_only=True)
    saved["scale"] = 1.0
    torch.save(saved, wrong)
    with pytest.raises(ModelFileError, match="do not fit scale 1.0"):
        load_model(wrong)


@pytest.mark.parametrize("content", [b"hello\n", b"", *(np.random.default_rng(seed).bytes(64) for seed in range(12))])
def test_garbage_is_refused_as_not_a_model_file(tmp_path, content):
    """Text, and some random bytes, failed with KeyError or IndexError from torch's legacy loader."""
    (tmp_path / "m.pt").write_bytes(content)
    with pytest.raises(ModelFileError, match="m.pt: not a model file"):
        load_model(tmp_path / "m.pt")


@pytest.mark.parametrize("saved", [{"format": 1}, {"format": 1, "scale": "big", "normalize": False, "state_dict": {}},
                                   {"format": 1, "scale": 1 / 9, "normalize": False, "state_dict": [1]}])
def test_a_format_1_file_without_its_fields_is_refused(tmp_path, saved):
    torch.save(saved, tmp_path / "m.pt")
    with pytest.raises(ModelFileError, match="not a model file of format 1"):
        load_model(tmp_path / "m.pt")


def test_the_victim_says_so_in_one_line(tmp_path):
    (tmp_path / "m.pt").write_text("hello\n")
    done = subprocess.run([str(BIN / "zoadamm-worker"), "victim", "--model", str(tmp_path / "m.pt")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "m.pt: not a model file" in done.stderr


def test_save_does_not_go_with_join():
    done = subprocess.run([str(BIN / "zoadamm-worker"), "mnist", "--save", "model.pt", "--join", "0" * 32],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "--save" in done.stderr and "--join" in done.stderr



def test_a_model_file_that_cannot_be_written_is_an_os_error_naming_it(tmp_path):
    """What the command-line tools turn into one line (torch's own writer raises a RuntimeError
    that names no file): a folder, and a place that takes no new file."""
    from zoadamm_worker.cli_errors import failure_line

    scale = 1 / 9
    for path in (tmp_path, Path("/proc/zoadamm-model.pt")):
        with pytest.raises(OSError) as refused:
            save_model(path, initial_parameters(scale, 0), scale, False)
        assert refused.value.filename == str(path)
        assert failure_line(refused.value, None) == f"{refused.value.strerror}: {path}"
