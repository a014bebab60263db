"""The service process freezes its app's startup objects out of the garbage collector once the
app has started (``serve_app``), takes the compiled update at every size and loads the l2 ball's
compiled passes before it serves; an app built with ``create_app`` (every test's) does none of it."""

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


SETS_IN_THE_SERVICE = """
import numpy as np
from fastapi.testclient import TestClient
from objectives import feasible_sets, feasible_x0
from zoadamm import METHODS, Ball, Box, FeasibleSet, _ball_kernel, _ball_write
from zoadamm_service.main import serve_app

def signatures():
    return {(module.__name__, name): len(getattr(module, name).signatures)
            for module in (_ball_kernel, _ball_write) for name in dir(module)
            if hasattr(getattr(module, name), "signatures")}

app = serve_app()
loaded = signatures()
rng = np.random.default_rng(3)
with TestClient(app) as client:
    for dim in (12, 20_000):
        ramp = np.linspace(0.25, 1.0, dim)
        sets = {**feasible_sets(dim), "vectors": FeasibleSet(Box(-ramp, ramp), Ball("2", ramp / 10, 0.6)),
                "box, center": FeasibleSet(Box(-0.3, ramp), Ball("2", ramp / 10, 0.6))}
        for method in METHODS:
            for constraint in sets.values():
                x0 = feasible_x0(constraint, dim)
                body = {"dim": dim, "method": method, "x0": x0.tolist(), "directions": 2,
                        "constraint": None if constraint is None else constraint.to_dict(inline=True)}
                made = client.post("/v1/sessions", json=body)
                assert made.status_code == 201, made.text
                for step in range(3):
                    values = ({"gradient": rng.normal(size=dim).tolist()} if method == "adamm"
                              else {"f_x": 1.0, "f_plus": rng.normal(size=2).tolist()})
                    told = client.post(f"/v1/sessions/{made.json()['id']}/tell", json={"step": step, **values})
                    assert told.status_code == 200, told.text
print(sum(loaded.values()), {k: n - loaded.get(k, 0) for k, n in signatures().items() if n != loaded.get(k, 0)})
"""


def test_the_service_process_loads_the_ball_passes_for_every_set_before_it_serves():
    """A pass loaded in a tell would hold every other tell of the process for its load (about
    half a second from numba's cache, tens of seconds on a fresh install's first compile)."""
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", SETS_IN_THE_SERVICE], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": tests}).stdout
    loaded, added = out.split(" ", 1)
    assert int(loaded) > 0 and added.strip() == "{}"


def test_an_app_built_in_process_leaves_the_collector_alone():
    app = create_app(Settings(redis_url=None))
    before = gc.get_freeze_count()

    async def start() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    assert asyncio.run(start()) == before
