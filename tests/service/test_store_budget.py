"""The store budget (``store.budget``) ends a wait even when the code inside swallows the
cancellation that ends it (as ``asyncio.wait_for`` does on Python 3.11 when the cancellation and
the awaited write end in one loop turn), and leaves the task's cancellation state as it was."""

from __future__ import annotations

import asyncio

import pytest

from zoadamm_service.errors import StoreUnavailable
from zoadamm_service.store import budget

BUDGET_S = 0.01
# How long a wait that ignored the budget would go on; the budget's repeat comes long before it
# on the loop's clock, so this is no limit on the machine's speed.
LONG_S = 100 * BUDGET_S


async def swallowing(times: int) -> str:
    """A wait that catches the first ``times`` cancellations and goes on waiting."""
    for _ in range(times):
        try:
            await asyncio.sleep(LONG_S)
        except asyncio.CancelledError:
            pass
    await asyncio.sleep(LONG_S)
    return "ran past the budget"


@pytest.mark.parametrize("times", [0, 1, 3])
def test_a_wait_that_swallows_the_cancellation_still_ends_within_the_budget(times):
    async def call() -> tuple[str, int]:
        budget.start(BUDGET_S)
        task = asyncio.current_task()
        assert task is not None
        try:
            async with budget.waiting("Redis"):
                return await swallowing(times), task.cancelling()
        except StoreUnavailable as exc:
            # the task is as it was: a later wait of its own, or asyncio.timeout, still works
            return exc.message, task.cancelling()

    message, cancelling = asyncio.run(call())
    assert "waited 0.01 s for Redis" in message and cancelling == 0


def test_a_cancellation_not_the_budgets_goes_through():
    """The client went away: the call is cancelled, not answered 503."""

    async def call() -> None:
        budget.start(LONG_S)
        async with budget.waiting("Redis"):
            await asyncio.sleep(10 * LONG_S)

    async def cancel_it() -> bool:
        task = asyncio.ensure_future(call())
        await asyncio.sleep(0)  # into the wait
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return task.cancelled()

    assert asyncio.run(cancel_it())


def test_the_waits_of_one_call_share_its_budget():
    """Tells queued on a session's lock behind a hung Redis: getting the lock gives nothing back."""
    async def call() -> tuple[float, str]:
        budget.start(LONG_S)
        async with budget.waiting("the session", answered=False):
            await asyncio.sleep(LONG_S / 2)
        left = budget._current.get().left_s
        try:
            async with budget.waiting("Redis"):
                await asyncio.sleep(LONG_S)
        except StoreUnavailable as exc:
            return left, exc.message
        return left, "no 503"

    left, message = asyncio.run(call())
    assert left <= LONG_S / 2 and "for Redis" in message


def test_each_answer_of_the_store_gives_the_call_its_budget_back():
    """Many quick commands, in turn and sixteen at once, whose waits add up to several budgets."""
    async def one(seconds: float) -> None:
        async with budget.waiting("Redis"):
            await asyncio.sleep(seconds)

    async def call() -> str:
        budget.start(LONG_S)
        for _ in range(20):
            await one(LONG_S / 10)
        for _ in range(2):
            await asyncio.gather(*(one(LONG_S / 4) for _ in range(16)))
        return "answered"

    assert asyncio.run(call()) == "answered"


def test_a_wait_without_a_budget_is_not_bounded_by_one():
    async def call() -> str:
        async with budget.waiting("Redis"):
            await asyncio.sleep(BUDGET_S)
        return "done"

    assert asyncio.run(call()) == "done"
