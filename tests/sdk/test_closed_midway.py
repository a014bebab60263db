"""A client closed while a call is under way (from another thread, or another task): the call
raises ``ClientClosedError`` saying it may have been applied, never httpx's own RuntimeError;
and a run whose tell met such an error (or lost its answer) never claims a step the service
may not have taken."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from sdk_support import quadratic, reference_run, through, x0_for, zo_values

from zoadamm import AsyncClient, Client, RemoteOptimizer, SessionConfig
from zoadamm.sdk import APIConnectionError, ClientClosedError

DIM = 16
CONFIG = {"lr": 0.05, "mu": 1e-3, "directions": 2, "seed": 2024}
APPLIED = "which the service may have applied"


def _tell(run: RemoteOptimizer, f) -> None:
    values = zo_values(f, run.x, run.mu, run.directions())
    run.tell(f_x=values["f_x"], f_plus=values["f_plus"])


def test_a_client_closed_while_its_tell_is_retried_raises_client_closed(test_client):
    """The service applied the tell, its answer was lost, and the client was closed before the
    retry: the call says it may have been applied, and the service's step says it was."""
    app = through(test_client)
    made: list[Client] = []

    def handle(request: httpx.Request) -> httpx.Response:
        answer = app(request)
        if request.url.path.endswith("/tell"):
            made[0].close()  # as another thread would, while the answer is on its way
            raise httpx.ReadError("connection reset while reading the answer", request=request)
        return answer

    sdk = Client("http://test", transport=httpx.MockTransport(handle))
    made.append(sdk)
    session = sdk.sessions.create(3, x0=[0.0, 0.0, 0.0], directions=2)
    with pytest.raises(ClientClosedError, match=APPLIED) as raised:
        sdk.sessions.tell(session.id, 0, f_x=1.0, f_plus=[1.5, 0.5])
    assert f"POST /v1/sessions/{session.id}/tell" in str(raised.value)
    assert "sessions.get(session_id).step" in str(raised.value)
    assert Client(http_client=test_client).sessions.get(session.id).step == 1
    with pytest.raises(ClientClosedError, match="is closed; make a new one"):  # and calls after it, as before
        sdk.sessions.get(session.id)


class _ClosingTransport(httpx.AsyncBaseTransport):
    """The app over ASGI; a tell's answer is lost, and its client closed, as another task would."""

    def __init__(self, app) -> None:
        self.app = httpx.ASGITransport(app=app)
        self.client: AsyncClient | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = await self.app.handle_async_request(request)
        if request.url.path.endswith("/tell"):
            assert self.client is not None
            await self.client.aclose()
            raise httpx.ReadError("connection reset while reading the answer", request=request)
        return answer


def test_an_async_client_closed_while_its_tell_is_retried_raises_client_closed(memory_app):
    transport = _ClosingTransport(memory_app())

    async def main() -> tuple[str, int]:
        sdk = transport.client = AsyncClient("http://test", transport=transport)
        session = await sdk.sessions.create(3, x0=[0.0, 0.0, 0.0], directions=2)
        with pytest.raises(ClientClosedError, match=APPLIED):
            await sdk.sessions.tell(session.id, 0, f_x=1.0, f_plus=[1.5, 0.5])
        async with AsyncClient("http://test", transport=httpx.ASGITransport(app=transport.app.app)) as other:
            return session.id, (await other.sessions.get(session.id)).step

    _, step = asyncio.run(main())
    assert step == 1


def test_a_pipelined_run_whose_client_closed_under_a_tell_stays_at_the_services_step(test_client):
    """The tell of step 3 never reaches the service, and the client is closed before its retry:
    the mirror had moved on to step 4, but the run, once closed, claims step 3, the service's."""
    app = through(test_client)
    made: list[Client] = []
    tells: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tell"):
            tells.append(1)
            if len(tells) == 4:
                made[0].close()
                raise httpx.ConnectError("connection refused", request=request)
        return app(request)

    sdk = Client("http://test", transport=httpx.MockTransport(handle))
    made.append(sdk)
    f = quadratic(DIM)
    run = RemoteOptimizer.create(sdk, x0_for(DIM), mirror=True, pipeline=True, **CONFIG)
    with pytest.raises(ClientClosedError, match=APPLIED):
        for _ in range(6):
            _tell(run, f)
    run.close()
    service = Client(http_client=test_client).sessions.get(run.id).step
    assert service == 3
    assert run.step == service
    assert not run.mirrored


@pytest.mark.parametrize("pipeline", [False, True], ids=["mirror", "pipeline"])
def test_a_mirrored_tell_whose_answer_was_lost_leaves_the_run_at_a_step_the_service_holds(test_client, pipeline):
    """The service took step 3, its answer was lost (no retries): the run stands at step 3, a
    step the service surely holds; its next tell takes the service's step and x first, sending
    nothing, and the run then walks the path of an uninterrupted one."""
    app = through(test_client)
    tells: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        answer = app(request)
        if request.url.path.endswith("/tell"):
            tells.append(1)
            if len(tells) == 4:
                raise httpx.ReadError("connection reset while reading the answer", request=request)
        return answer

    sdk = Client("http://test", transport=httpx.MockTransport(handle), max_retries=0)
    f = quadratic(DIM)
    run = RemoteOptimizer.create(sdk, x0_for(DIM), mirror=True, pipeline=pipeline, **CONFIG)
    with pytest.raises(APIConnectionError):
        for _ in range(6):
            _tell(run, f)
    assert run.step == 3 < sdk.sessions.get(run.id).step == 4
    _tell(run, f)  # measured at an x the service may have left: not sent
    assert len(tells) == 4
    assert run.step == 4
    assert np.array_equal(run.x, sdk.sessions.parameters(run.id).x)
    while run.step < 8:
        _tell(run, f)
    run.close()
    expected, _, _ = reference_run(SessionConfig.from_dict({"dim": DIM, **CONFIG}), x0_for(DIM), f, 8)
    assert run.step == 8
    assert np.array_equal(run.x, expected.state.x)


def test_a_plain_run_whose_client_closed_under_a_tell_closes_without_asking(test_client):
    """Plain mode: the tell that the close cut off raises ClientClosedError; the run stays at the
    step it told, and closing it asks the closed client nothing."""
    app = through(test_client)
    made: list[Client] = []

    def handle(request: httpx.Request) -> httpx.Response:
        answer = app(request)
        if request.url.path.endswith("/tell"):
            made[0].close()
            raise httpx.ReadError("connection reset while reading the answer", request=request)
        return answer

    sdk = Client("http://test", transport=httpx.MockTransport(handle))
    made.append(sdk)
    run = RemoteOptimizer.create(sdk, x0_for(DIM), **CONFIG)
    with pytest.raises(ClientClosedError, match=APPLIED):
        _tell(run, quadratic(DIM))
    run.close()
    assert run.step == 0 < Client(http_client=test_client).sessions.get(run.id).step == 1
