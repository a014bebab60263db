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
    async def call() -> tuple[float, str]:
        budget.start(LONG_S)
        async with budget.waiting("the session"):
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


def test_a_wait_without_a_budget_is_not_bounded_by_one():
    async def call() -> str:
        async with budget.waiting("Redis"):
            await asyncio.sleep(BUDGET_S)
        return "done"

    assert asyncio.run(call()) == "done"
