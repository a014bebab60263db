"""The dashboard's shared cache is bounded in bytes: every distinct page a client asks for (a
cursor, a limit) is a key of its own, and a client walking cursors filled a replica's memory
with answers nobody asked for again (83 MB -> 1.1 GB, kept while idle)."""

from __future__ import annotations

import asyncio

from service_support import create

from zoadamm_service.dashboard.cache import SharedLoads

MB = 1 << 20


def test_answers_past_the_budget_go_oldest_first_and_expired_ones_go():
    async def walk() -> tuple[SharedLoads, list[int]]:
        cache = SharedLoads(ttl_s=60.0, max_bytes=10 * MB)
        answers = []
        for key in range(100):  # 100 answers of 1 MB, each asked for once
            answers.append(await cache.get(key, lambda key=key: _answer(key), weigh=lambda _: MB))
        return cache, answers

    cache, answers = asyncio.run(walk())
    assert answers == list(range(100))  # every caller got its own answer
    assert cache.held_bytes <= 10 * MB and len(cache._entries) <= 10
    assert set(cache._entries) == set(range(90, 100))  # the newest stay

    async def expire() -> SharedLoads:
        cache = SharedLoads(ttl_s=0.05, max_bytes=10 * MB)
        for key in range(5):
            await cache.get(key, lambda key=key: _answer(key), weigh=lambda _: MB)
        await asyncio.sleep(0.1)
        await cache.get("new", lambda: _answer(0), weigh=lambda _: MB)
        return cache

    cache = asyncio.run(expire())
    assert set(cache._entries) == {"new"} and cache.held_bytes == MB


def test_one_load_serves_every_caller_and_a_failed_one_is_not_kept():
    async def shared() -> tuple[SharedLoads, list[int]]:
        cache = SharedLoads(ttl_s=60.0)
        answers = await asyncio.gather(*(cache.get("k", lambda: _answer(7)) for _ in range(20)))
        try:
            await cache.get("bad", _failing)
        except ValueError:
            pass
        return cache, answers

    cache, answers = asyncio.run(shared())
    assert answers == [7] * 20 and cache.loads == 2 and set(cache._entries) == {"k"}


def test_walking_the_metric_pages_of_a_session_keeps_the_cache_within_its_budget(make_app, serve):
    app = make_app(dashboard_cache_s=60)
    with serve(app) as client:
        session = create(client, dim=2, x0=[0.0, 0.0])["id"]
        named = {f"metric_{i:02d}": float(i) for i in range(30)}
        for _ in range(60):
            reported = client.post(f"/v1/sessions/{session}/metrics", json={"value": 1.0, "metrics": named})
            assert reported.status_code == 200
        cache = app.state.overview.cache
        cache.max_bytes = 64 * 1024  # a budget a few pages fill
        for cursor in range(60):
            for limit in (1, 2, 3):
                r = client.get(f"/v1/dashboard/sessions/{session}", params={"cursor": cursor, "limit": limit})
                assert r.status_code == 200, r.text
                assert len(r.json()["metrics"]) == min(limit, 60 - cursor)
        assert cache.loads > 100  # every page was loaded
        largest = 3 * 2048  # three reports of about 1 KB, and the trace: far below the budget
        assert 0 < cache.held_bytes <= cache.max_bytes + largest


async def _answer(value: int) -> int:
    await asyncio.sleep(0)
    return value


async def _failing() -> int:
    raise ValueError("the store is down")
