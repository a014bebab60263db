"""The service process freezes its app's startup objects out of the garbage collector once the
app has started (``serve_app``), and takes the compiled update at every size; an app built with
``create_app`` (every test's) does neither."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys

from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings

STARTED_AS_THE_SERVICE = """
import asyncio, gc
from zoadamm_service.main import serve_app
app = serve_app()
before = gc.get_freeze_count()
async def start():
    async with app.router.lifespan_context(app):
        print(before, gc.get_freeze_count())
asyncio.run(start())
"""


def test_the_service_process_freezes_its_startup_objects():
    # an environment without REDIS_URL: the embedded store
    out = subprocess.run([sys.executable, "-c", STARTED_AS_THE_SERVICE], capture_output=True, text=True,
                         check=True, env={"PATH": os.environ.get("PATH", "")}).stdout
    before, after = (int(n) for n in out.split())
    assert before == 0 and after > 10_000


SMALL_STEP_IN_THE_SERVICE = """
import numpy as np
from zoadamm import adamm
small = adamm.AdaMMState.start(np.zeros(3, np.float32))
before = adamm.runs_compiled(small)
from zoadamm_service.main import serve_app
serve_app()
print(before, adamm.runs_compiled(small))
"""


def test_the_service_process_takes_the_compiled_update_at_every_size():
    out = subprocess.run([sys.executable, "-c", SMALL_STEP_IN_THE_SERVICE], capture_output=True, text=True,
                         check=True, env={"PATH": os.environ.get("PATH", "")}).stdout
    assert out.split() == ["False", "True"]


def test_an_app_built_in_process_leaves_the_collector_alone():
    app = create_app(Settings(redis_url=None))
    before = gc.get_freeze_count()

    async def start() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    assert asyncio.run(start()) == before
