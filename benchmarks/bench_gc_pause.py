"""How long a full garbage collection holds the service's event loop, before and after the
process's app freezes its startup objects (``zoadamm_service.main.serve_app``).

The app is built and started (its lifespan) as ``zoadamm-service`` does; every collection
walks every tracked object, and while it runs no request is answered.

    python benchmarks/bench_gc_pause.py
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time

from zoadamm_service.main import serve_app


def full_collections(times: int = 5) -> float:
    """Median ms of a full collection."""
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        gc.collect()
        spent.append((time.perf_counter() - started) * 1e3)
    return statistics.median(spent)


async def main() -> None:
    app = serve_app()
    app.state.freeze_gc = False  # started unfrozen first, to measure both
    async with app.router.lifespan_context(app):
        app.openapi()  # built on the first /openapi.json; part of a running app
        before, objects = full_collections(), len(gc.get_objects())
        gc.freeze()
        after = full_collections()
        gc.unfreeze()
    print(f"a full collection: {before:.1f} ms over {objects:,} objects; {after:.2f} ms once they are frozen "
          f"(median of 5; load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
