"""``HeadNotices``: the waits on a session's head, and how following the other replicas'
notices stops."""

from __future__ import annotations

import asyncio

from zoadamm_service.store import Head, budget, notices
from zoadamm_service.store.notices import HeadNotices


async def _head(session_id: str) -> int:
    return 0


def test_close_ends_a_follower_that_took_the_first_cancel_for_a_timeout():
    """On Python 3.11 a cancel that arrives as a read's own timeout fires is lost inside the
    read (redis-py's pub/sub read runs under a timeout); close must end the follower all the same."""
    swallowed = []

    async def notices():
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:  # the second cancel ends it, as a read between timeouts does
                    raise
                swallowed.append(True)  # the first is taken for the read's timeout
            if False:
                yield ("", 0)

    async def scenario() -> bool:
        follower_notices = HeadNotices(_head, poll_s=None, notices=notices)
        assert not await follower_notices.wait_past("s", 0, 0.01)  # the first wait starts following
        closing = asyncio.create_task(follower_notices.close())
        # a guard against hanging the suite, not a measure: close takes milliseconds or forever
        done, _ = await asyncio.wait({closing}, timeout=60)
        return closing in done and bool(swallowed)

    assert asyncio.run(scenario())


def test_a_move_before_the_wait_is_not_missed():
    async def scenario() -> bool:
        heads = HeadNotices(_head, poll_s=None)
        heads.moved("s", 3)
        return await heads.wait_past("s", 2, 0.01)

    assert asyncio.run(scenario())


def test_the_looks_of_a_long_wait_do_not_add_up_to_the_calls_store_budget():
    """A wait nothing wakes looks at the head every poll; each look is bounded by the call's
    store budget (a hung store still ends the call), but the looks do not spend it: a 0.4 s wait
    of 10 ms looks on a budget of 0.05 s ends as a wait, where it was a 503 about a slow store.
    (A lease's wait of 30 s on a healthy Redis ended so.)"""
    looks = []

    async def slow_head(session_id: str) -> int:
        async with budget.waiting("Redis"):
            await asyncio.sleep(0.01)
        looks.append(session_id)
        return Head(0, "")

    async def scenario() -> bool:
        budget.start(0.05)
        return await HeadNotices(slow_head, poll_s=0.005).wait_past("s", 0, 0.4)

    assert asyncio.run(scenario()) is False and len(looks) >= 10


def test_many_waits_on_one_session_share_its_looks():
    """Fifty waits nothing wakes cost the store one look per tick, not fifty: a caller holding
    many lease waits open cannot multiply the store's load."""
    looks = []

    async def head(session_id: str) -> Head:
        looks.append(session_id)
        return Head(0, "")

    async def scenario() -> list[bool]:
        heads = HeadNotices(head, poll_s=0.005)
        return await asyncio.gather(*(heads.wait_past("s", 0, 0.2) for _ in range(50)))

    assert asyncio.run(scenario()) == [False] * 50
    ticks = len(looks)
    assert 1 <= ticks <= 0.2 / 0.005 + 2  # a tick's look for all fifty waits


def test_the_looks_of_many_sessions_spread_out_to_a_bounded_rate():
    """Waits on more sessions than ``LOOKS_PER_S`` do not look at each every tick: one round
    over them all, then the tick stretches to that many looks' share of a second."""
    looks = []

    async def head(session_id: str) -> Head:
        looks.append(session_id)
        return Head(0, "")

    sessions = 2 * notices.LOOKS_PER_S  # one round of them takes two seconds' share

    async def scenario() -> None:
        heads = HeadNotices(head, poll_s=0.005)
        await asyncio.gather(*(heads.wait_past(f"s{i}", 0, 0.3) for i in range(sessions)))

    asyncio.run(scenario())
    assert sorted(set(looks)) == sorted(f"s{i}" for i in range(sessions)) and len(looks) == sessions


def test_a_head_that_went_back_is_waited_on_not_answered_from_memory_forever():
    """A Redis that restarted without its newest writes has a head below what memory heard: the
    same step asked about twice is looked at in the store, and waited on, where every ask was
    answered "past" at once and the caller's loop spun against the store."""
    store_head = [6]

    async def head(session_id: str) -> Head:
        return Head(store_head[0], "")

    async def scenario() -> tuple[bool, bool, bool]:
        heads = HeadNotices(head, poll_s=0.005)
        heads.moved("s", 6)
        store_head[0] = 3  # the store lost steps 3 to 5
        first = await heads.wait_past("s", 3, 0.05)  # memory answers once
        second = await heads.wait_past("s", 3, 0.05)  # then the store's head is looked at, and waited on
        store_head[0] = 4
        third = await heads.wait_past("s", 3, 0.5)
        return first, second, third

    assert asyncio.run(scenario()) == (True, False, True)


def test_what_a_look_raises_ends_the_waits_on_that_session_only():
    class Gone(Exception):
        pass

    async def head(session_id: str) -> Head:
        if session_id == "deleted":
            raise Gone(session_id)
        return Head(0, "")

    async def scenario() -> list:
        heads = HeadNotices(head, poll_s=0.005)
        return await asyncio.gather(heads.wait_past("deleted", 0, 1.0), heads.wait_past("kept", 0, 0.05),
                                    return_exceptions=True)

    deleted, kept = asyncio.run(scenario())
    assert isinstance(deleted, Gone) and kept is False
