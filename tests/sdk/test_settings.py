"""A session's settings by name (``zoadamm.sdk.settings``): the SDK's list is the core's, and a
name no session has is refused before any request, naming the one it is nearest to."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

import zoadamm
from zoadamm import AsyncClient, Client, InvalidArgument, SessionConfig
from zoadamm.sdk import RemoteOptimizer
from zoadamm.sdk.settings import NAMES


def test_the_sdk_names_every_setting_of_the_core_and_no_other():
    assert NAMES == {field.name for field in dataclasses.fields(SessionConfig)} - {"dim"}


def _counting() -> tuple[list[httpx.Request], httpx.MockTransport]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    return sent, httpx.MockTransport(handle)


@pytest.mark.parametrize("how", ["create", "remote", "minimize", "async"])
def test_a_misspelt_setting_is_refused_before_any_request(how):
    sent, transport = _counting()
    evaluated = []
    with pytest.raises(InvalidArgument, match=r"^directons: unknown setting \(did you mean directions\?\)$"):
        if how == "async":
            async def create():
                async with AsyncClient("http://test", transport=httpx.MockTransport(transport.handler)) as client:
                    await client.sessions.create(2, directons=4)
            asyncio.run(create())
        else:
            with Client("http://test", transport=transport) as client:
                if how == "create":
                    client.sessions.create(2, directons=4)
                elif how == "remote":
                    RemoteOptimizer.create(client, [0.0, 0.0], directons=4)
                else:
                    zoadamm.minimize(lambda x: evaluated.append(x) or 0.0, [0.0, 0.0], client=client,
                                     progress=False, directons=4)
    assert sent == [] and evaluated == []


def test_a_name_near_none_lists_the_settings():
    with Client("http://test", transport=_counting()[1]) as client, pytest.raises(InvalidArgument) as refused:
        client.sessions.create(2, colour="red")
    assert str(refused.value) == f"colour: unknown setting; the settings are {', '.join(sorted(NAMES))}"
