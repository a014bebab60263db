"""``HeadNotices``: the waits on a session's head, and how following the other replicas'
notices stops."""

from __future__ import annotations

import asyncio

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
