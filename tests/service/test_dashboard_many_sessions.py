"""The dashboard's table of more sessions than the store has pooled connections: every row is
listed (each row is two reads, and the table reads many rows at once), none is a 503 "Too many
connections"; and the embedded store's pool, like Redis's, makes a burst of calls wait for a
free connection instead of failing."""

from __future__ import annotations

import asyncio

from service_support import create

from zoadamm_service.store.memory import MemoryStore
from zoadamm_service.store.redis import MAX_CONNECTIONS

SMALL_POOL = 4  # the Redis store's pool here: a few sessions are already more than it holds


def test_the_table_lists_more_sessions_than_the_pool_holds(make_app, serve, store_kind):
    # the embedded store's pool has MAX_CONNECTIONS; the Redis store's is ZOADAMM_REDIS_MAX_CONNECTIONS
    pool = MAX_CONNECTIONS if store_kind == "memory" else SMALL_POOL
    with serve(make_app(dashboard_cache_s=0, redis_max_connections=SMALL_POOL)) as client:
        ids = {create(client, dim=2)["id"] for _ in range(pool + 10)}
        r = client.get("/v1/dashboard/sessions")
        assert r.status_code == 200, r.text
        assert {row["id"] for row in r.json()["sessions"]} == ids


def test_the_embedded_store_queues_a_burst_beyond_its_pool():
    async def burst() -> list[None]:
        store = MemoryStore()
        try:
            return await asyncio.gather(*(store.ping() for _ in range(3 * MAX_CONNECTIONS)))
        finally:
            await store.close()

    assert len(asyncio.run(burst())) == 3 * MAX_CONNECTIONS
