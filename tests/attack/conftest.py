"""The attack tests run against the committed victim model, served by a real victim process
over real HTTP, on real MNIST test images."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from zoadamm_worker.attack.launch import victim_process
from zoadamm_worker.attack.objective import Target
from zoadamm_worker.attack.targets import load_test_images
from zoadamm_worker.model_file import load_model
from zoadamm_worker.threads import use_torch_threads

MODEL = Path(__file__).resolve().parents[2] / "results" / "attack" / "victim.pt"

use_torch_threads(1)  # the test process is the program: it sets torch's threads, as the CLIs do


@pytest.fixture(scope="session")
def model_file() -> Path:
    return MODEL


@pytest.fixture(scope="session")
def classifier(model_file):
    return load_model(model_file)


@pytest.fixture(scope="module")
def victim_url(model_file):
    with victim_process(model_file, max_batch=1024) as url:
        yield url


@pytest.fixture(scope="session")
def test_window() -> tuple[np.ndarray, np.ndarray]:
    """The first 64 MNIST test images (flat float32 in [0, 1]) and labels."""
    return load_test_images(0, 64)


@pytest.fixture(scope="session")
def first_target(test_window, classifier) -> Target:
    """The first test image the model classifies correctly."""
    import torch

    images, labels = test_window
    with torch.inference_mode():
        predicted = classifier(torch.from_numpy(images).reshape(-1, 1, 28, 28)).argmax(1).numpy()
    index = int(np.flatnonzero(predicted == labels)[0])
    return Target(index, images[index], int(labels[index]))


@contextmanager
def _serve(app):
    """``app`` on a free loopback port over real HTTP (uvicorn in a thread); yields its URL."""
    import uvicorn

    from zoadamm_service.launch import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def serve():
    """``serve(app)``: a context that serves ``app`` in this process and yields its URL."""
    return _serve


@pytest.fixture(scope="module")
def small_victim_url(classifier):
    """A victim of one image a request at most: a body past its limit is a few tens of kB."""
    from zoadamm_worker.attack.victim import create_app

    with _serve(create_app(classifier, max_batch=1)) as url:
        yield url
