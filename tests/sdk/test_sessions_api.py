"""The public session API of the SDK (``client.sessions.get/list/delete``,
``RemoteOptimizer.resume``) on both stores, Redis included, and the errors a user meets first:
one root class, messages that name the URL, argument mistakes refused before any request."""

from __future__ import annotations

import importlib
import logging
import socket

import httpx
import numpy as np
import pytest
from sdk_support import bits, drive, quadratic, reference_run, x0_for

from zoadamm import Client, InvalidArgument, RemoteOptimizer, SessionConfig, ZoadammError, minimize
from zoadamm.sdk import APIConnectionError, APIError, NotFoundError, Session, SessionSummary

DIM = 8
CONFIG = {"lr": 0.05, "mu": 1e-3, "directions": 2, "seed": 7}


def test_get_list_delete(sdk):
    a = RemoteOptimizer.create(sdk, x0_for(DIM), name="first", **CONFIG)
    b = RemoteOptimizer.create(sdk, x0_for(DIM), name="second", **CONFIG)
    drive(b, quadratic(DIM), 3)
    rows = sdk.sessions.list()
    assert [(r.id, r.name) for r in rows] == [(a.id, "first"), (b.id, "second")]  # oldest first
    assert all(isinstance(r, SessionSummary) and r.config["dim"] == DIM for r in rows)
    assert [r.id for r in sdk.sessions.list(offset=1, limit=1)] == [b.id]
    got = sdk.sessions.get(b.id)
    assert isinstance(got, Session) and got.step == 3 and got.dim == DIM and got.lr == CONFIG["lr"]
    sdk.sessions.delete(a.id)
    assert [r.id for r in sdk.sessions.list()] == [b.id]
    with pytest.raises(NotFoundError) as gone:
        sdk.sessions.get(a.id)
    assert not gone.value.no_such_path and isinstance(gone.value, ZoadammError)


@pytest.mark.parametrize("mirror", [False, True], ids=["plain", "mirror-requested"])
def test_resume_continues_the_same_path(sdk, mirror):
    """Half a run, then a new RemoteOptimizer from the id alone finishes it: the path is the
    one of an uninterrupted run computed in process."""
    f = quadratic(DIM)
    expected, trajectory, _ = reference_run(SessionConfig.from_dict({"dim": DIM, **CONFIG}), x0_for(DIM), f, 20)
    first = RemoteOptimizer.create(sdk, x0_for(DIM), mirror=True, **CONFIG)
    head = drive(first, f, 10)
    first.close()
    resumed = RemoteOptimizer.resume(sdk, first.id, mirror=mirror)
    assert resumed.step == 10 and bits(resumed.x) == trajectory[10]
    assert not resumed.mirrored  # the moments stay in the service
    assert head + drive(resumed, f, 20) == trajectory
    resumed.report(f(resumed.x))
    resumed.close()
    assert bits(sdk.sessions.parameters(first.id).x) == bits(expected.state.x)


def test_resume_at_step_zero_can_mirror(sdk):
    fresh = RemoteOptimizer.create(sdk, x0_for(DIM), **CONFIG)
    resumed = RemoteOptimizer.resume(sdk, fresh.id, mirror=True, pipeline=True)
    assert resumed.mirrored and resumed.step == 0
    drive(resumed, quadratic(DIM), 5)
    resumed.close()
    assert sdk.sessions.get(fresh.id).step == 5


def test_resume_of_an_unknown_id_is_not_found(sdk):
    with pytest.raises(NotFoundError):
        RemoteOptimizer.resume(sdk, "0" * 32)


def test_create_checks_dim_and_shape_before_any_request(sdk):
    assert RemoteOptimizer.create(sdk, np.zeros(3), dim=3, **CONFIG).session.dim == 3
    before = len(sdk.sessions.list())
    with pytest.raises(InvalidArgument, match="dim=4 disagrees"):
        RemoteOptimizer.create(sdk, np.zeros(3), dim=4)
    with pytest.raises(InvalidArgument, match=r"1-D vector, got shape \(2, 3\)"):
        RemoteOptimizer.create(sdk, np.zeros((2, 3)))
    with pytest.raises(InvalidArgument, match="1-D"):
        sdk.sessions.create(6, x0=np.zeros((2, 3)))
    assert len(sdk.sessions.list()) == before


def test_every_error_is_a_zoadamm_error():
    assert issubclass(InvalidArgument, ZoadammError) and issubclass(InvalidArgument, ValueError)
    assert issubclass(APIError, ZoadammError)


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens


def test_the_start_hint_names_a_command_for_this_machine_only():
    from zoadamm.sdk._http import start_command

    assert start_command("http://127.0.0.1:8494") == "zoadamm-service --port 8494"
    assert start_command("http://localhost/") == "zoadamm-service --port 80"
    assert start_command("http://[::1]:8001") == "zoadamm-service --host ::1 --port 8001"
    assert start_command("https://zo.example.org") is None  # another host: nothing to start here
    assert start_command(None) == "zoadamm-service --port 8000"


def test_a_connection_error_names_the_url():
    url = _refused_url()
    with Client(url, max_retries=0) as client, pytest.raises(APIConnectionError) as error:
        client.sessions.list()
    assert error.value.url.startswith(url + "/v1/sessions")
    assert f"cannot connect to GET {url}/v1/sessions" in str(error.value)
    assert f"Start one with `zoadamm-service --port {url.rsplit(':', 1)[1]}`" in str(error.value)
    with Client(url) as client, pytest.raises(APIConnectionError):
        client.health(retry=False)


def test_a_wrong_base_path_says_where_the_api_lives(test_client):
    def under_api(request: httpx.Request) -> httpx.Response:  # the app, reached as /api/...
        answer = test_client.request(request.method, request.url.path, content=request.content,
                                     headers={"accept": "application/json"})
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content, request=request)

    http = httpx.Client(base_url="http://127.0.0.1:8000/api", transport=httpx.MockTransport(under_api))
    with pytest.raises(NotFoundError) as error:
        Client(http_client=http).sessions.list()
    assert error.value.no_such_path
    assert "http://127.0.0.1:8000/api/v1/sessions" in str(error.value) and "lives at /v1/sessions" in str(error.value)


def test_minimize_without_a_service_named_logs_the_one_it_uses(caplog, monkeypatch):
    module = importlib.import_module("zoadamm.sdk.minimize")  # the package attribute is the function
    monkeypatch.setattr(module, "DEFAULT_URL", _refused_url())
    with caplog.at_level(logging.WARNING, logger="zoadamm"), pytest.raises(APIConnectionError):
        minimize(lambda x: 0.0, np.zeros(2), steps=1, progress=False)
    assert f"using the service at {module.DEFAULT_URL}" in caplog.text


def test_minimize_with_a_client_logs_nothing(local, caplog):
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        minimize(lambda x: float(np.sum(x ** 2)), np.ones(2), steps=2, client=local, progress=False)
    assert "using the service" not in caplog.text
