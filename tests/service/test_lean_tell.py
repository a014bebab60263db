"""The tell answered from its ASGI call, and the Redis calls made with less of redis-py around
them: the same answers, errors and recoveries as the framework's and redis-py's own ways."""

from __future__ import annotations

import asyncio
import os
import signal

import numpy as np
import pytest
import redis
from service_support import FRAME, create, objective, reference, x0_for, zo_values
from test_edge_http import own_redis

from zoadamm import wire
from zoadamm_service.store.fast_script import FastPool, FastScript
from zoadamm_service.store.redis import RedisStore

DIM = 5


def test_the_tell_reads_its_query_and_headers_as_starlette_does(client):
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    session = create(client, dim=DIM, x0=x0)
    sid, opt = session["id"], reference(session, x0)
    values = zo_values(opt, f)
    url = f"/v1/sessions/{sid}/tell"
    blank = client.post(url + "?answer=", json=values)
    assert blank.status_code == 422 and "not ''" in blank.json()["detail"]
    # a parameter given twice, or one the tell does not take, is refused as the router's calls refuse it
    twice = client.post(url + "?answer=x&answer=checksum", json=values)
    assert twice.status_code == 422 and twice.json()["detail"] == "query parameter 'answer' is given twice"
    other = client.post(url + "?other=1&answer=checksum", json=values)
    assert other.status_code == 422
    assert other.json()["detail"] == "unknown query parameter 'other'; this call takes answer"
    answer = client.post(url + "?answer=checksum", json=values)
    assert answer.status_code == 200 and answer.json()["checksum"] == wire.checksum(x0)
    # the first Accept header chooses the frame; the answer carries its length and type
    framed = client.post(url, content=wire.encode(values), params={"answer": "x"},
                         headers=[("content-type", FRAME), ("accept", FRAME), ("accept", "application/json")])
    assert framed.status_code == 200 and framed.headers["content-type"] == FRAME
    assert int(framed.headers["content-length"]) == len(framed.content)
    assert framed.headers["x-content-type-options"] == "nosniff"  # the pipeline's headers still come
    fields, vectors = wire.decode(framed.content)
    opt.apply(opt.zo_record(**{k: v for k, v in values.items() if k != "step"}))
    assert fields["step"] == 1 and np.array_equal(vectors["x"], opt.state.x)
    refused = wire.encode({**values, "step": 1})
    declined = client.post(url, content=refused, params={"answer": "x"},
                           headers={"content-type": FRAME, "accept": f"{FRAME};q=0, application/json"})
    assert declined.status_code == 200 and declined.headers["content-type"] == "application/json"
    assert declined.json()["step"] == 2
    unsupported = client.post(url, content=b"step=1", headers={"content-type": "text/plain"})
    assert unsupported.status_code == 415


def kill_clients_of(client: redis.Redis) -> None:
    """Redis closes every other connection on ``client``'s database (not those of tests running
    beside this one on other databases)."""
    db, me = str(client.connection_pool.connection_kwargs.get("db", 0)), client.client_id()
    for other in client.client_list(_type="normal"):
        if other["db"] == db and int(other["id"]) != me:
            client.client_kill_filter(_id=other["id"])


def test_a_script_sent_on_a_pooled_connection_answers_as_redis_py_does(redis_url):
    async def run() -> None:
        store = RedisStore.from_url(redis_url, max_connections=2)
        client = store._redis
        assert isinstance(client.connection_pool, FastPool)
        script = client.register_script("redis.call('SET', KEYS[1], ARGV[1]); return {ARGV[1], tonumber(ARGV[2]) + 1}")
        fast = FastScript(script, client)
        assert await fast(keys=["{t}:a"], args=[b"v", 1]) == await script(keys=["{t}:a"], args=[b"v", 1])
        await client.script_flush()  # a server that lost its scripts: loaded again, then sent
        assert await fast(keys=["{t}:a"], args=[b"w", 2]) == [b"w", 3]
        with redis.Redis.from_url(redis_url) as other:  # Redis closes the pool's connections
            kill_clients_of(other)
        assert await fast(keys=["{t}:a"], args=[b"u", 3]) == [b"u", 4]  # retried once, reconnected
        # more calls than connections: the rest wait their turn in the pool, none is lost
        answers = await asyncio.gather(*(fast(keys=["{t}:a"], args=[b"n", i]) for i in range(50)))
        assert answers == [[b"n", i + 1] for i in range(50)]
        pool = client.connection_pool
        assert len(pool._in_use_connections) == 0 and len(pool._available_connections) <= 2
        await client.aclose()

    asyncio.run(run())
    assert redis.Redis.from_url(redis_url).get("{t}:a") == b"n"


def test_a_script_argument_larger_than_the_socket_takes_at_once_is_drained_whole(redis_url):
    """A write the kernel does not take whole (an FO tell's gradient at large d) waits for the
    socket to drain, and arrives intact, on the connection the next call uses too."""
    async def run() -> None:
        store = RedisStore.from_url(redis_url, max_connections=1)
        client = store._redis
        script = client.register_script("redis.call('SET', KEYS[1], ARGV[1]); return string.len(ARGV[1])")
        fast = FastScript(script, client)
        big = np.random.default_rng(5).bytes(24 << 20)
        assert await fast(keys=["{t}:big"], args=[big]) == len(big)
        assert await fast(keys=["{t}:big"], args=[b"small"]) == 5
        assert await fast(keys=["{t}:big"], args=[big]) == len(big)
        await client.aclose()

    asyncio.run(run())
    with redis.Redis.from_url(redis_url) as check:
        assert check.strlen("{t}:big") == 24 << 20


def test_a_call_cancelled_at_any_point_leaves_no_reply_for_the_next_call(redis_url):
    """A call cancelled before, during or after its command's write closes its connection (a
    reply never read would be the next call's answer); the next call on the pool answers its own."""
    async def run() -> None:
        store = RedisStore.from_url(redis_url, max_connections=1)
        client = store._redis
        fast = FastScript(client.register_script("return tonumber(ARGV[1]) * 2"), client)
        for i in range(60):
            call = asyncio.ensure_future(fast(keys=["{t}:c"], args=[i]))
            for _ in range(i % 4):  # cancelled at the loop's 0th to 3rd turn after the call started
                await asyncio.sleep(0)
            call.cancel()
            try:
                assert await call == 2 * i  # it may have finished first
            except asyncio.CancelledError:
                pass
            assert await fast(keys=["{t}:c"], args=[1000 + i]) == 2 * (1000 + i)
        await client.aclose()

    asyncio.run(run())


def test_concurrent_scripts_share_the_lane_and_each_call_gets_its_own_reply(redis_url):
    """Two hundred calls at once go out on the lane's one connection; an error reply reaches
    the call that caused it, as redis-py's exception, and the calls after it are answered."""
    async def run() -> None:
        store = RedisStore.from_url(redis_url, max_connections=4)
        client = store._redis
        fast = FastScript(client.register_script(
            "if ARGV[1] == 'bad' then return redis.error_reply('BAD ' .. KEYS[1]) end "
            "if ARGV[1] == 'loading' then return redis.error_reply('LOADING not yet') end return ARGV[1]"), client)
        assert await fast(keys=["{t}:0"], args=[b"loaded"]) == b"loaded"  # known to the server from here on
        values = [b"bad" if i % 7 == 3 else str(i).encode() for i in range(200)]
        answers = await asyncio.gather(*(fast(keys=[f"{{t}}:{i}"], args=[v]) for i, v in enumerate(values)),
                                       return_exceptions=True)
        for i, (value, answer) in enumerate(zip(values, answers, strict=True)):
            if value == b"bad":
                assert isinstance(answer, redis.exceptions.ResponseError) and str(answer) == f"BAD {{t}}:{i}"
            else:
                assert answer == value
        with pytest.raises(redis.exceptions.BusyLoadingError):  # an error of the ConnectionError family too
            await fast(keys=["{t}:l"], args=[b"loading"])
        pool = client.connection_pool  # at most the one that loaded the script: no call took the pool's
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 1
        await store.close()

    asyncio.run(run())


def test_a_hung_redis_times_the_lane_out_and_a_resumed_one_answers_again():
    """Calls waiting on the lane with nothing coming back get redis-py's TimeoutError (the
    service's 503), not an endless wait; once Redis answers again, so does the next call."""
    with own_redis() as (proc, url):
        async def run() -> None:
            store = RedisStore.from_url(url, timeout_s=0.3)
            fast = FastScript(store._redis.register_script("return tonumber(ARGV[1]) + 1"), store._redis)
            assert await fast(keys=["{t}:h"], args=[1]) == 2
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                calls = await asyncio.gather(*(fast(keys=["{t}:h"], args=[i]) for i in range(5)),
                                             return_exceptions=True)
                assert all(isinstance(c, redis.exceptions.TimeoutError) for c in calls), calls
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            assert await fast(keys=["{t}:h"], args=[41]) == 42
            await store.close()

        asyncio.run(run())
