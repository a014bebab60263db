"""The URLs the SDK's requests go to: the same as httpx's ``build_request`` would make, whatever
the client's base URL (with a path, replaced later) or default query parameters, though the
client keeps the merged URLs of the calls it repeats."""

from __future__ import annotations

import asyncio

import httpx

from zoadamm import AsyncClient, Client

S1, S2 = "5" * 32, "6" * 32  # session ids, as the service makes them


def _recording(seen: list[str]):
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"step": 1, "lr": 0.1, "mu": 0.01, "x": [0.0]})

    return httpx.MockTransport(handle)


def test_repeated_calls_keep_the_base_path_and_the_query():
    seen: list[str] = []
    http = httpx.Client(transport=_recording(seen), base_url="http://test/prefix")
    client = Client(http_client=http, binary=False)
    for step in range(3):
        client.sessions.tell(S1, step, f_x=1.0, f_plus=[2.0], answer="checksum" if step == 2 else "x")
    client.sessions.tell(S2, 0, f_x=1.0, f_plus=[2.0])
    assert seen == [
        f"http://test/prefix/v1/sessions/{S1}/tell?answer=x",
        f"http://test/prefix/v1/sessions/{S1}/tell?answer=x",
        f"http://test/prefix/v1/sessions/{S1}/tell?answer=checksum",
        f"http://test/prefix/v1/sessions/{S2}/tell?answer=x",
    ]


def test_a_replaced_base_url_and_default_params_are_followed():
    seen: list[str] = []
    http = httpx.Client(transport=_recording(seen), base_url="http://one")
    client = Client(http_client=http, binary=False)
    client.sessions.tell(S1, 0, f_x=1.0, f_plus=[2.0])
    http.base_url = "http://two"
    client.sessions.tell(S1, 1, f_x=1.0, f_plus=[2.0])
    http.params = {"tag": "a"}
    client.sessions.tell(S1, 2, f_x=1.0, f_plus=[2.0])
    client.sessions.tell(S1, 3, f_x=1.0, f_plus=[2.0])
    assert seen == [
        f"http://one/v1/sessions/{S1}/tell?answer=x",
        f"http://two/v1/sessions/{S1}/tell?answer=x",
        f"http://two/v1/sessions/{S1}/tell?tag=a&answer=x",
        f"http://two/v1/sessions/{S1}/tell?tag=a&answer=x",
    ]


def test_the_async_client_sends_to_the_same_urls():
    seen: list[str] = []

    async def main() -> None:
        http = httpx.AsyncClient(transport=_recording(seen), base_url="http://test/p/")
        async with AsyncClient(http_client=http, binary=False) as client:
            for step in range(2):
                await client.sessions.tell(S1, step, f_x=1.0, f_plus=[2.0])
        await http.aclose()

    asyncio.run(main())
    assert seen == [f"http://test/p/v1/sessions/{S1}/tell?answer=x"] * 2


def test_clients_share_one_tls_context():
    first, second = Client("https://example.invalid"), AsyncClient("https://example.invalid")
    try:
        ours = {id(pool._ssl_context) for c in (first.http, second.http) for pool in [c._transport._pool]}
        assert len(ours) == 1
    finally:
        first.close()
        asyncio.run(second.aclose())
