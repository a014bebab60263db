"""The AsyncClient against the app through ``httpx.ASGITransport`` (which runs no lifespan:
the app's store needs none to start).  An async run must equal the sync run bit for bit."""

from __future__ import annotations

import asyncio
import types

import httpx
import numpy as np
import pytest
from sdk_support import bits, quadratic, x0_for, zo_values

from zoadamm import AsyncClient, Client, Optimizer, SessionConfig, directions
from zoadamm.sdk import ConflictError, NotFoundError, Parameters, Session, StepInfo

DIM = 8
STEPS = 25
CONFIG = {"lr": 0.05, "directions": 3, "seed": 77, "schedule": {"patience": 0}}


def _async_client(app, binary: bool = True, **kwargs) -> AsyncClient:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    return AsyncClient(http_client=http, binary=binary, **kwargs)


async def _async_run(sdk: AsyncClient, f) -> tuple[list[bytes], Parameters]:
    s = await sdk.sessions.create(DIM, x0=x0_for(DIM), **CONFIG)
    trajectory = []
    for step in range(STEPS):
        info = await sdk.sessions.ask(s.id, vectors=True)
        x = (await sdk.sessions.parameters(s.id)).x
        trajectory.append(bits(x))
        values = zo_values(f, x, info.mu, info.u)
        answer = await sdk.sessions.tell(s.id, step, f_x=values["f_x"], f_plus=values["f_plus"])
        assert bits(answer.x) == bits((await sdk.sessions.parameters(s.id)).x)
        if step % 5 == 4:
            await sdk.sessions.report(s.id, values["f_x"] if step < 15 else 1e6)
    return trajectory, await sdk.sessions.parameters(s.id)


def _sync_run(sdk: Client, f) -> tuple[list[bytes], Parameters]:
    s = sdk.sessions.create(DIM, x0=x0_for(DIM), **CONFIG)
    trajectory = []
    for step in range(STEPS):
        info = sdk.sessions.ask(s.id, vectors=True)
        x = sdk.sessions.parameters(s.id).x
        trajectory.append(bits(x))
        values = zo_values(f, x, info.mu, info.u)
        sdk.sessions.tell(s.id, step, f_x=values["f_x"], f_plus=values["f_plus"])
        if step % 5 == 4:
            sdk.sessions.report(s.id, values["f_x"] if step < 15 else 1e6)
    return trajectory, sdk.sessions.parameters(s.id)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_an_async_run_equals_the_sync_run_bit_for_bit(make_app, serve, binary):
    f = quadratic(DIM)
    async with _async_client(make_app(), binary) as sdk:
        async_trajectory, async_final = await _async_run(sdk, f)
    with serve(make_app()) as test_client:
        sync_trajectory, sync_final = _sync_run(Client(http_client=test_client, binary=binary), f)

    assert async_trajectory == sync_trajectory
    assert async_final.step == sync_final.step == STEPS
    assert bits(async_final.x) == bits(sync_final.x)

    # and both are the in-process optimizer's run
    opt = Optimizer.start(SessionConfig.from_dict({"dim": DIM, **CONFIG}), x0_for(DIM))
    for step in range(STEPS):
        u = directions(CONFIG["seed"], step, CONFIG["directions"], DIM, "sphere")
        values = zo_values(f, opt.state.x, opt.mu, u)
        opt.apply(opt.zo_record(values["f_x"], values["f_plus"]))
        if step % 5 == 4:
            opt.report(values["f_x"] if step < 15 else 1e6)
    assert opt.lr < CONFIG["lr"]  # the reports did move lr
    assert bits(async_final.x) == bits(opt.state.x)


@pytest.mark.anyio
async def test_async_calls_answer_typed_models_and_errors(make_app):
    async with _async_client(make_app()) as sdk:
        s = await sdk.sessions.create(DIM, x0=x0_for(DIM), name="async", seed=4, directions=2)
        assert isinstance(s, Session) and s.name == "async" and s.has_parameters
        assert await sdk.sessions.get(s.id) == s
        assert [x.id for x in await sdk.sessions.list()] == [s.id]
        info = await sdk.sessions.ask(s.id, vectors=True)
        assert isinstance(info, StepInfo) and bits(info.u) == bits(directions(4, 0, 2, DIM, "sphere"))
        entry = await sdk.sessions.report(s.id, 1.5, loss=1.5)
        assert await sdk.sessions.history(s.id) == [entry] and entry["loss"] == 1.5
        with pytest.raises(ConflictError) as caught:
            await sdk.sessions.tell(s.id, 3, f_x=1.0, f_plus=[1.0, 1.0])
        assert caught.value.step == 0
        await sdk.sessions.delete(s.id)
        with pytest.raises(NotFoundError):
            await sdk.sessions.get(s.id)
        assert await sdk.sessions.list() == []


@pytest.mark.anyio
async def test_async_client_retries_without_waiting(memory_app, monkeypatch):
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("zoadamm.sdk.client.anyio", types.SimpleNamespace(sleep=sleep))
    app_transport = httpx.ASGITransport(app=memory_app())
    plan = [httpx.ConnectError, 503, ("after", httpx.ReadError)]
    seen = []

    class Flaky(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            if request.url.path.endswith("/tell") and plan:
                seen.append(request)
                fault = plan.pop(0)
                if fault == 503:
                    return httpx.Response(503, headers={"Retry-After": "2"}, json={"detail": "busy"})
                if isinstance(fault, tuple):
                    answer = await app_transport.handle_async_request(request)
                    await answer.aread()
                    raise fault[1]("lost", request=request)
                raise fault("injected", request=request)
            return await app_transport.handle_async_request(request)

    http = httpx.AsyncClient(transport=Flaky(), base_url="http://test")
    async with AsyncClient(http_client=http) as sdk:
        f = quadratic(DIM)
        s = await sdk.sessions.create(DIM, x0=x0_for(DIM), seed=6)
        values = zo_values(f, x0_for(DIM), s.mu, directions(6, 0, 1, DIM, "sphere"))
        result = await sdk.sessions.tell(s.id, 0, f_x=values["f_x"], f_plus=values["f_plus"])
        assert len(seen) == 3 and len(slept) == 3 and slept[1] == 2.0
        assert result.step == 1 and (await sdk.sessions.parameters(s.id)).step == 1
        opt = Optimizer.start(SessionConfig.from_dict(s.config), x0_for(DIM))
        opt.apply(opt.zo_record(values["f_x"], values["f_plus"]))
        assert bits(result.x) == bits(opt.state.x) and np.array_equal(result.x, opt.state.x)



@pytest.mark.anyio
async def test_the_async_client_checks_health_as_the_sync_one_does(make_app):
    """docs/sdk.md: the async client has the sync one's calls, health() included."""
    async with _async_client(make_app()) as sdk:
        assert (await sdk.health(retry=False))["status"] == "ok"


def test_an_async_client_belongs_to_the_event_loop_it_first_ran_on(memory_app):
    """A second asyncio.run with the same AsyncClient, and its aclose() there, raise
    EventLoopError saying what to do, where they failed with "Event loop is closed" (or,
    over a transport that holds no connections, went on unnoticed); one client per run works."""
    from zoadamm.sdk import ClientClosedError, EventLoopError

    app = memory_app()
    sdk = AsyncClient("http://test", transport=httpx.ASGITransport(app=app))

    async def count(client: AsyncClient) -> int:
        return len(await client.sessions.list())

    assert asyncio.run(count(sdk)) == 0
    for _ in range(2):
        with pytest.raises(EventLoopError, match="an AsyncClient belongs to one event loop; make one in each "
                                                 "asyncio.run, as `async with zoadamm.AsyncClient") as raised:
            asyncio.run(count(sdk))
        assert isinstance(raised.value, ClientClosedError)
    with pytest.raises(EventLoopError, match="cannot be closed here: it first ran on another event loop"):
        asyncio.run(sdk.aclose())

    async def one_per_run() -> int:
        async with AsyncClient("http://test", transport=httpx.ASGITransport(app=app)) as client:
            await client.sessions.create(2, x0=[0.0, 0.0])
            return await count(client)

    assert [asyncio.run(one_per_run()) for _ in range(2)] == [1, 2]


def test_an_async_client_runs_under_trio():
    """httpx runs on trio too (through anyio): the check of asyncio's event loop must not stop it."""
    import trio

    from zoadamm_service.launch import ServiceProcess

    async def run(url: str) -> tuple[str, int, int]:
        async with AsyncClient(url) as client:
            healthy = (await client.health())["status"]
            made = await client.sessions.create(2, x0=[0.0, 0.0])
            listed = len(await client.sessions.list())
            await client.sessions.delete(made.id)
            return healthy, listed, len(await client.sessions.list())

    with ServiceProcess() as service:
        assert trio.run(run, service.url) == ("ok", 1, 0)



def test_an_async_clients_retries_sleep_under_trio():
    """A retried call waits with the running library's sleep (asyncio's raised under trio)."""
    import trio

    from zoadamm.sdk._http import Call

    answers = iter([httpx.Response(503, headers={"Retry-After": "0.01"}), httpx.Response(200, json=[])])
    transport = httpx.MockTransport(lambda request: next(answers))

    async def run() -> list:
        async with AsyncClient(http_client=httpx.AsyncClient(transport=transport, base_url="http://t")) as client:
            return await client.send(Call("GET", "/v1/sessions"))

    assert trio.run(run)[0] == {"items": []}
