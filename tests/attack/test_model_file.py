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


def test_save_does_not_go_with_join():
    done = subprocess.run([str(BIN / "zoadamm-worker"), "mnist", "--save", "model.pt", "--join", "0" * 32],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "--save" in done.stderr and "--join" in done.stderr
