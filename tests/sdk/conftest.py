"""Fixtures of the SDK tests: SDK clients of apps built by the service's own factory, served
in process by a Starlette TestClient (inside the app's lifespan)."""

from __future__ import annotations

import pytest

from zoadamm import Client


@pytest.fixture(params=[True, False], ids=["binary", "json"])
def binary(request) -> bool:
    return request.param


@pytest.fixture
def sdk(make_app, serve, binary):
    """A ``zoadamm.Client`` of a fresh app on this test's store kind, in both encodings."""
    with serve(make_app()) as test_client:
        yield Client(http_client=test_client, binary=binary)


@pytest.fixture
def memory_app():
    """``memory_app(**settings)``: an app on the in-process store (the fast one, for long runs)."""
    from zoadamm_service.main import create_app
    from zoadamm_service.settings import Settings

    return lambda **settings: create_app(Settings(redis_url=None, **settings))


@pytest.fixture
def test_client(memory_app, serve):
    """A Starlette TestClient of a fresh in-process-store app."""
    with serve(memory_app()) as client:
        yield client


@pytest.fixture
def local(test_client):
    """A binary ``zoadamm.Client`` of a fresh in-process-store app."""
    return Client(http_client=test_client)
