"""``HeadNotices``: the waits on a session's head, and how following the other replicas'
notices stops."""

from __future__ import annotations

import asyncio

from zoadamm_service.store import budget
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
        return 0

    async def scenario() -> bool:
        budget.start(0.05)
        return await HeadNotices(slow_head, poll_s=0.005).wait_past("s", 0, 0.4)

    assert asyncio.run(scenario()) is False and len(looks) >= 10
