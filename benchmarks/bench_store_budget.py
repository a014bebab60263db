"""The store budget's own cost on the per-step path: CPU per ``async with budget.waiting(...)``
around an await that completes at once (a tell spends two or three such waits), against the
same wait on ``asyncio.timeout``, which the budget used before it cancelled again while a wait
went on (``store.budget``).  Blocks alternate between the two; CPU time per wait.

    python benchmarks/bench_store_budget.py --waits 20000 --blocks 9
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from zoadamm_service.errors import StoreUnavailable
from zoadamm_service.store import budget


@asynccontextmanager
async def on_asyncio_timeout(what: str) -> AsyncIterator[None]:
    """The wait as it was: one ``asyncio.timeout`` on what is left of the budget."""
    current = budget._current.get()
    assert current is not None
    started = time.monotonic()
    try:
        async with asyncio.timeout(max(current.left_s, 0.0)):
            yield
    except TimeoutError:
        raise StoreUnavailable(f"waited {current.total_s:g} s for {what}") from None
    finally:
        current.left_s -= time.monotonic() - started


async def block(wait, waits: int) -> float:
    """CPU microseconds per wait."""
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    started = time.process_time()
    for _ in range(waits):
        budget.start(2.0)
        async with wait("Redis"):
            await done
    return (time.process_time() - started) / waits * 1e6


async def measure(waits: int, blocks: int) -> dict[str, list[float]]:
    kinds = {"budget.waiting": budget.waiting, "asyncio.timeout": on_asyncio_timeout}
    per_wait: dict[str, list[float]] = {name: [] for name in kinds}
    for i in range(blocks + 1):
        for name, wait in kinds.items():
            cost = await block(wait, waits)
            if i:  # the first block warms up
                per_wait[name].append(cost)
    return per_wait


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waits", type=int, default=20000, help="waits per block")
    parser.add_argument("--blocks", type=int, default=9)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results") / "store_budget.json"))
    args = parser.parse_args()
    per_wait = asyncio.run(measure(args.waits, args.blocks))
    medians = {name: statistics.median(v) for name, v in per_wait.items()}
    result = {"command": "python benchmarks/bench_store_budget.py " + " ".join(sys.argv[1:]),
              "cpu_us_per_wait": per_wait, "median_us": medians,
              "budget_over_asyncio_timeout": medians["budget.waiting"] / medians["asyncio.timeout"],
              "load_average": os.getloadavg()[0]}
    print(json.dumps(result["median_us"]), f"ratio {result['budget_over_asyncio_timeout']:.2f}")
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
