"""Quotas and lifetimes on both stores: sessions per tenant (429), a rate limit per API key
(429 with Retry-After, the tell included), and idle sessions that expire whole."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from service_support import objective, reference, x0_for, zo_values

from zoadamm_service.api.ratelimit import Throttle
from zoadamm_service.tenants import entry

DIM = 3
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}
ENTRIES = ",".join(entry(t, k) for t, k in KEYS.items())


def auth(tenant: str, **extra) -> dict:
    return {"Authorization": f"Bearer {KEYS[tenant]}", **extra}


def test_a_tenant_over_its_session_quota_gets_429(make_app, serve):
    with serve(make_app(api_keys=ENTRIES, max_sessions=3)) as client:
        made = [client.post("/v1/sessions", json={"dim": DIM}, headers=auth("alice")) for _ in range(3)]
        assert [r.status_code for r in made] == [201] * 3
        over = client.post("/v1/sessions", json={"dim": DIM}, headers=auth("alice", **{"Idempotency-Key": "k4"}))
        assert over.status_code == 429 and "ZOADAMM_MAX_SESSIONS" in over.json()["detail"]
        assert client.get("/v1/sessions", headers=auth("alice")).json()["total"] == 3
        assert client.post("/v1/sessions", json={"dim": DIM}, headers=auth("bob")).status_code == 201
        # a repeat of a create that was admitted is answered, not refused
        again = client.post("/v1/sessions", json={"dim": DIM}, headers=auth("alice", **{"Idempotency-Key": "k1"}))
        assert again.status_code == 429  # k1 was never used: a new create
        assert client.delete(f"/v1/sessions/{made[0].json()['id']}", headers=auth("alice")).status_code == 204
        first = client.post("/v1/sessions", json={"dim": DIM}, headers=auth("alice", **{"Idempotency-Key": "k1"}))
        repeat = client.post("/v1/sessions", json={"dim": DIM}, headers=auth("alice", **{"Idempotency-Key": "k1"}))
        assert first.status_code == repeat.status_code == 201 and first.json() == repeat.json()


def test_a_tenant_past_its_bytes_of_state_gets_429_and_keeps_what_it_had(make_app, serve):
    # zo-adamm keeps x, m, v and v_hat (16 bytes a coordinate), zo-sgd x alone (4)
    with serve(make_app(api_keys=ENTRIES, max_tenant_bytes=16 * 100 + 4 * 100)) as client:
        big = client.post("/v1/sessions", json={"dim": 100}, headers=auth("alice"))
        assert big.status_code == 201
        over = client.post("/v1/sessions", json={"dim": 101, "method": "zo-sgd"}, headers=auth("alice"))
        assert over.status_code == 429, over.text
        assert "hold 1,600 bytes" in over.json()["detail"] and "needs 404 more" in over.json()["detail"]
        assert "ZOADAMM_MAX_TENANT_BYTES" in over.json()["detail"]
        assert client.get("/v1/sessions", headers=auth("alice")).json()["total"] == 1
        small = client.post("/v1/sessions", json={"dim": 100, "method": "zo-sgd"}, headers=auth("alice"))
        assert small.status_code == 201
        assert client.post("/v1/sessions", json={"dim": 101}, headers=auth("bob")).status_code == 201  # bob's own
        # a set's d-vector bounds count too
        box = {"box": {"lower": [0.0] * 25, "upper": [1.0] * 25}}
        assert client.delete(f"/v1/sessions/{big.json()['id']}", headers=auth("alice")).status_code == 204
        fits = client.post("/v1/sessions", json={"dim": 25, "constraint": box}, headers=auth("alice"))
        assert fits.status_code == 201, fits.text
        assert client.get("/v1/sessions", headers=auth("alice")).json()["total"] == 2


def test_creates_racing_for_the_last_bytes_never_pass_the_quota(make_app, serve):
    """Creates at once, each listed before its session is written: the refused ones prune the
    index meanwhile, and must not make room by forgetting the ones under way."""
    racers = 24
    # room for 3; a store budget that a loaded machine's 24 creates at once do not spend (a 503
    # there is the service shedding load, another test's matter, and no answer about the quota)
    with serve(make_app(api_keys=ENTRIES, max_tenant_bytes=16 * 100 * 3, redis_timeout_s=30.0)) as client:
        start = threading.Barrier(racers)

        def create(_) -> int:
            start.wait()
            made = client.post("/v1/sessions", json={"dim": 100, "x0": [0.0] * 100}, headers=auth("alice"))
            return made.status_code

        with ThreadPoolExecutor(racers) as pool:
            codes = list(pool.map(create, range(racers)))
        assert sorted(codes) == [201] * 3 + [429] * (racers - 3), codes
        assert client.get("/v1/sessions", headers=auth("alice")).json()["total"] == 3


def test_a_session_larger_than_the_quota_alone_is_422_before_anything_is_made(make_app, serve):
    with serve(make_app(api_keys=ENTRIES, max_tenant_bytes=2000)) as client:
        r = client.post("/v1/sessions", json={"dim": 200}, headers=auth("alice"))  # 16 bytes a coordinate
        assert r.status_code == 422, r.text
        assert "holds 3,200 bytes of state, more than a tenant may hold (2,000, ZOADAMM_MAX_TENANT_BYTES)" in r.text
        assert client.get("/v1/sessions", headers=auth("alice")).json()["total"] == 0


def test_a_keyed_create_repeated_at_the_quota_gets_its_first_answer(make_app, serve):
    with serve(make_app(api_keys=ENTRIES, max_tenant_bytes=1600)) as client:
        first = client.post("/v1/sessions", json={"dim": 100}, headers=auth("alice", **{"Idempotency-Key": "k1"}))
        assert first.status_code == 201
        assert client.delete(f"/v1/sessions/{first.json()['id']}", headers=auth("alice")).status_code == 204
        assert client.post("/v1/sessions", json={"dim": 100}, headers=auth("alice")).status_code == 201  # full
        again = client.post("/v1/sessions", json={"dim": 100}, headers=auth("alice", **{"Idempotency-Key": "k1"}))
        assert again.status_code == 201 and again.json() == first.json()  # as docs/api.md says, not 429
        assert client.get("/v1/sessions", headers=auth("alice")).json()["total"] == 1


def test_the_rate_limit_counts_each_key_and_answers_429_with_retry_after(make_app, serve):
    f, _ = objective(DIM)
    # per hour: the in-process counter's windows start on the clock's hour, and a test that
    # crossed a minute's start would find its first calls counted in the window before
    app = make_app(api_keys=ENTRIES, rate_limit="6/hour")
    with serve(app) as client:
        made = client.post("/v1/sessions", json={"dim": DIM, "x0": x0_for(DIM).tolist()}, headers=auth("alice"))
        sid = made.json()["id"]
        opt = reference(made.json(), x0_for(DIM))
        statuses = []
        for _ in range(6):
            values = zo_values(opt, f)
            r = client.post(f"/v1/sessions/{sid}/tell", json=values, headers=auth("alice"))
            statuses.append(r.status_code)
            if r.status_code == 200:
                opt.apply(opt.zo_record(values["f_x"], values["f_plus"]))
        assert statuses == [200] * 5 + [429]
        assert 1 <= int(r.headers["retry-after"]) <= 3600 and "rate limit" in r.json()["detail"]
        assert client.get("/v1/sessions", headers=auth("alice")).status_code == 429
        assert client.get("/v1/sessions", headers=auth("bob")).status_code == 200  # bob has his own window
        assert client.get("/healthz").status_code == 200
        # the refused tell changed nothing: the journal holds the five steps told
        assert client.portal.call(app.state.sessions.store.head, sid).seq == 5


@pytest.mark.parametrize("reads", [False, True], ids=["idle", "read"])
def test_an_idle_session_expires_whole_and_leaves_the_index(make_app, serve, store_kind, redis_client_maybe, reads):
    f, _ = objective(DIM)
    with serve(make_app(session_ttl_s=2)) as client:
        made = client.post("/v1/sessions", json={"dim": DIM, "x0": x0_for(DIM).tolist()})
        sid = made.json()["id"]
        opt = reference(made.json(), x0_for(DIM))
        values = zo_values(opt, f)
        assert client.post(f"/v1/sessions/{sid}/tell", json=values).status_code == 200
        assert client.post(f"/v1/sessions/{sid}/metrics", json={"value": 1.0}).status_code == 200
        kept = client.post("/v1/sessions", json={"dim": DIM}).json()["id"]
        for _ in range(6):  # 3 s of calls on one session keep it; the other one goes idle
            time.sleep(0.5)
            if reads:
                assert client.get(f"/v1/sessions/{kept}").status_code == 200
            else:
                assert client.post(f"/v1/sessions/{kept}/metrics", json={"value": 1.0}).status_code in (200, 409)
        gone = client.get(f"/v1/sessions/{sid}")
        assert gone.status_code == 404 and "idle for 2 s expires (ZOADAMM_SESSION_TTL_S)" in gone.json()["detail"]
        assert ("a restart empties" in gone.json()["detail"]) == (store_kind == "memory")  # said of a TTL too
        assert client.get(f"/v1/sessions/{sid}/trace").status_code == 404
        listing = client.get("/v1/sessions").json()
        assert [s["id"] for s in listing["sessions"]] == [kept] and listing["total"] == 1
    if redis_client_maybe is not None:  # nothing of it is left in Redis
        assert redis_client_maybe.keys(f"zoadamm:{{{sid}}}:*") == []
        assert redis_client_maybe.zrange("zoadamm:tenant:open:sessions", 0, -1) == [kept.encode()]


@pytest.mark.parametrize("store_kind", ["redis"])  # a restart keeps only what Redis keeps
@pytest.mark.parametrize("first_call", ["lease", "read"])
def test_a_restart_to_no_ttl_takes_the_old_expiry_off_every_key_at_the_first_call(make_app, serve, redis_client,
                                                                                 first_call):
    """0 means never.  A service with a TTL left it on every key of its sessions; after a restart
    with 0, the first call on a session, a lease or a read as much as a tell, takes it off all of
    them at once.  Taken off by each write alone, a lease's (which writes two keys) left the
    journal to expire beneath a session that went on: a session with half its records."""
    f, _ = objective(DIM)
    with serve(make_app(session_ttl_s=60)) as first:
        made = first.post("/v1/sessions", json={"dim": DIM, "directions": 4, "x0": x0_for(DIM).tolist()})
        sid = made.json()["id"]
        opt = reference(made.json(), x0_for(DIM))
        assert first.post(f"/v1/sessions/{sid}/tell", json=zo_values(opt, f)).status_code == 200
    written = redis_client.keys(f"zoadamm:{{{sid}}}:*")
    assert len(written) >= 4 and all(redis_client.ttl(key) > 0 for key in written)
    with serve(make_app()) as second:
        if first_call == "lease":
            assert second.post(f"/v1/sessions/{sid}/ask", json={"lease": 1, "worker": "a"}).status_code == 200
        else:
            assert second.get(f"/v1/sessions/{sid}").status_code == 200
    kept = redis_client.keys(f"zoadamm:{{{sid}}}:*")
    assert set(written) <= set(kept) and [redis_client.ttl(key) for key in kept] == [-1] * len(kept)


@pytest.mark.parametrize("store_kind", ["redis"])
def test_a_first_touch_that_fails_is_tried_again_at_the_next_call(make_app, serve, redis_client):
    """Under TTL 0 a replica takes an old expiry off once: a try that the store refused (a Redis
    stall: 503) must not count as done, or the session's keys expire later, some of them."""
    from zoadamm_service.errors import StoreUnavailable

    with serve(make_app(session_ttl_s=60)) as first:
        sid = first.post("/v1/sessions", json={"dim": DIM, "x0": x0_for(DIM).tolist()}).json()["id"]
    app = make_app()
    with serve(app) as second:
        store = app.state.sessions.store
        touch = store.touch

        async def stalled(session_id):
            store.touch = touch  # the next one goes through
            raise StoreUnavailable("Redis stalled")

        store.touch = stalled
        assert second.get(f"/v1/sessions/{sid}/x").status_code == 503
        assert second.get(f"/v1/sessions/{sid}/x").status_code == 200
    kept = redis_client.keys(f"zoadamm:{{{sid}}}:*")
    assert kept and [redis_client.ttl(key) for key in kept] == [-1] * len(kept)


@pytest.fixture
def redis_client_maybe(store_kind, request):
    if store_kind != "redis":
        return None
    return request.getfixturevalue("redis_client")


def test_the_rate_limit_takes_its_counts_from_the_window_in_batches(make_app, serve):
    """Each replica takes 1% of a key's limit at a time (here 20 of 2,000/minute): twenty calls
    cost the window one count of twenty, and the twenty-first takes the next batch."""
    app = make_app(api_keys=ENTRIES, rate_limit="2000/minute")
    with serve(app) as client:
        gate = next(g for g in _pipeline(app).gates if isinstance(g, Throttle))
        hits: list[int] = []
        hit = gate.limiter.hit

        async def counting(item, *who, cost=1):
            hits.append(cost)
            return await hit(item, *who, cost=cost)

        gate.limiter.hit = counting
        statuses = [client.get("/v1/sessions", headers=auth("alice")).status_code for _ in range(21)]
        assert statuses == [200] * 21 and hits == [20, 20], (statuses, hits)


def _pipeline(app):
    """The app's ``Pipeline`` middleware, in its middleware stack (built when the app starts)."""
    from zoadamm_service.api.pipeline import Pipeline

    layer = app.middleware_stack
    while not isinstance(layer, Pipeline):
        layer = layer.app
    return layer


@pytest.mark.parametrize("limit, calls, fetches", [
    ("6000/minute", 200, [60, 140]),  # a batch for the first; then one for the 140 in line
    ("1000/second", 256, [10, 100, 100, 46]),  # batches of 10 took 26 round trips in line: 503 under load
    # batches of 1 (under 200), a tenth of the limit for the line; then what the window has left
    ("150/minute", 200, [1, *[15] * 9, 14]),
])
def test_a_burst_of_one_keys_calls_fetches_counts_for_the_whole_line(redis_url, limit, calls, fetches):
    """Calls of one key at once, none holding counts: the call that fetches takes counts for
    every call in line behind it, so the window loses a count per call (not a batch per call,
    which refused the key for the rest of its window after a twentieth of its limit), and the
    line waits for two round trips, not one per batch."""
    import asyncio

    from limits import parse

    gate = Throttle(limit, redis_url)
    hits: list[tuple[int, bool]] = []
    hit = gate.limiter.hit

    async def counting(item, *who, cost=1):
        hits.append((cost, await hit(item, *who, cost=cost)))
        return hits[-1][1]

    gate.limiter.hit = counting
    who = f"burst-{limit}"

    async def burst() -> tuple[list, int]:
        scopes = [{"path": "/v1/sessions", "state": {"key_id": who}} for _ in range(calls)]
        answers = await asyncio.gather(*(gate.check(scope) for scope in scopes))
        left = (await gate.limiter.get_window_stats(parse(limit), who)).remaining
        await gate.aclose()  # its connections end with this event loop
        return answers, left

    answers, left = asyncio.run(burst())
    admitted = min(calls, parse(limit).amount)
    assert [a is None for a in answers].count(True) == admitted, answers
    assert all(a is None or a.status == 429 for a in answers), answers
    assert left == parse(limit).amount - admitted
    assert [cost for cost, taken in hits if taken] == fetches, hits
