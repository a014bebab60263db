"""The compiled updates (from ``COMPILED_FROM`` coordinates on) give numpy's bits: the same
states after several steps, for AdaMM with both normalizers and for bias-corrected Adam, with and
without a feasible set, for gradients over many decades, zeros, subnormals and an infinity, and
in a fresh interpreter compiled for a generic x86-64."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoadamm import AdaMMConfig, AdaMMState, InvalidArgument, adamm, methods
from zoadamm.constraints import Ball, Box, FeasibleSet

VECTORS = ("x", "m", "v", "v_hat")
NUMPY_ONLY = 1 << 62
# numpy warns where the infinity of the extreme gradients overflows g*g and makes inf / inf
OVERFLOW, INVALID = "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"


def gradients(rng: np.random.Generator, dim: int, steps: int, extreme: bool) -> list[np.ndarray]:
    """Signs and magnitudes over twelve decades, a few exact zeros; with ``extreme``, also
    subnormals and, at the last step, an infinity and the largest float32."""
    out = []
    for step in range(steps):
        g = (rng.standard_normal(dim) * np.exp(rng.uniform(-14, 14, dim))).astype(np.float32)
        g[: min(3, dim)] = 0.0
        if extreme and dim > 8:
            g[3:5] = np.float32(1e-41), np.float32(-3e-45)
            if step == steps - 1:
                g[5:8] = np.inf, -np.finfo(np.float32).max, np.float32(1e-38)
        out.append(g)
    return out


# (session method, normalizer): the updates with a compiled loop
UPDATES = [("zo-adamm", "v_hat"), ("zo-adamm", "v"), ("zo-adam", "v_hat")]


def run(dim: int, update: tuple[str, str], constraint, compiled_from: int, monkeypatch, extreme: bool) -> AdaMMState:
    rng = np.random.default_rng(dim)
    spec = methods.method(update[0])
    state = AdaMMState.start(rng.uniform(-0.5, 0.5, dim).astype(np.float32), spec.keeps)
    monkeypatch.setattr(adamm, "COMPILED_FROM", compiled_from)
    monkeypatch.setattr(adamm, "_loaded_for_every_size", False)  # COMPILED_FROM alone decides
    for lr, g in zip((1e-3, 3e-2, 0.7, 1e-3, 5.0), gradients(rng, dim, 5, extreme), strict=True):
        spec.update(state, g, lr, AdaMMConfig(normalizer=update[1]), constraint)
    return state


SETS = {
    "none": lambda dim: None,
    "box": lambda dim: FeasibleSet(box=Box(lower=-0.25, upper=0.25)),
    "l2": lambda dim: FeasibleSet(ball=Ball(norm="2", center=np.full(dim, 0.1, np.float32), radius=0.05 * dim**0.5)),
}


@pytest.mark.filterwarnings(OVERFLOW, INVALID)
@pytest.mark.parametrize("dim", [1, 9, 1_000, 20_000])
@pytest.mark.parametrize("update", UPDATES, ids=["-".join(u) for u in UPDATES])
@pytest.mark.parametrize("kind", sorted(SETS))
@pytest.mark.parametrize("extreme", [False, True], ids=["finite", "extreme"])
def test_the_compiled_update_gives_numpys_bits(dim, update, kind, extreme, monkeypatch):
    compiled = run(dim, update, SETS[kind](dim), 1, monkeypatch, extreme)
    plain = run(dim, update, SETS[kind](dim), NUMPY_ONLY, monkeypatch, extreme)
    for name in VECTORS:
        assert getattr(compiled, name).tobytes() == getattr(plain, name).tobytes(), name
    assert compiled.step == plain.step == 5
    moved = np.isfinite(plain.x).sum()
    assert moved >= dim - 3 if extreme and dim > 8 else moved == dim  # only the infinity's coordinates are lost


@pytest.mark.parametrize("method_name, loop", [("zo-adamm", "update"), ("zo-adam", "adam_update")])
def test_a_large_state_takes_the_compiled_path(method_name, loop, monkeypatch):
    monkeypatch.setattr(adamm, "_loaded_for_every_size", False)  # as in a process that never loaded it
    assert sizes_compiled(method_name, loop, monkeypatch) == [adamm.COMPILED_FROM]


@pytest.mark.parametrize("method_name, loop", [("zo-adamm", "update"), ("zo-adam", "adam_update")])
def test_once_loaded_every_size_takes_the_compiled_path(method_name, loop, monkeypatch):
    monkeypatch.setattr(adamm, "_loaded_for_every_size", False)  # put back after the test
    adamm.load_compiled()
    assert sizes_compiled(method_name, loop, monkeypatch) == [1, adamm.COMPILED_FROM - 1, adamm.COMPILED_FROM]


def sizes_compiled(method_name: str, loop: str, monkeypatch) -> list[int]:
    """The sizes, of 1, COMPILED_FROM - 1 and COMPILED_FROM, whose step calls the compiled ``loop``."""
    calls = []
    monkeypatch.setattr(adamm.compiled(), loop, lambda *args: calls.append(args[0].size))
    spec = methods.method(method_name)
    for dim in (1, adamm.COMPILED_FROM - 1, adamm.COMPILED_FROM):
        state = AdaMMState.start(np.zeros(dim, np.float32), spec.keeps)
        spec.update(state, np.ones(dim, np.float32), 1e-3, AdaMMConfig(), None)
    return calls


def digest(dim: int = 20_000) -> str:
    """The bytes of a compiled run's state (run in a child process too)."""
    import hashlib

    rng = np.random.default_rng(7)
    state = AdaMMState.start(rng.uniform(-1, 1, dim).astype(np.float32))
    for g in gradients(rng, dim, 4, extreme=True):
        adamm.adamm_update(state, g, 0.01, AdaMMConfig())
    return hashlib.sha256(b"".join(getattr(state, name).tobytes() for name in VECTORS)).hexdigest()


def test_the_compiled_update_gives_the_same_bits_in_a_fresh_interpreter(fresh_python):
    here = str(Path(__file__).resolve().parent)
    code = f"import sys; sys.path.insert(0, {here!r}); import test_update_kernel as t; print(t.digest())"
    assert fresh_python(code).strip() == digest()


@pytest.mark.parametrize("dim", [9, 20_000])
@pytest.mark.parametrize("method_name", ["zo-adamm", "zo-adam"])
def test_a_state_without_the_methods_moments_is_refused_before_any_write(dim, method_name):
    state = AdaMMState.start(np.ones(dim, np.float32), keeps=("x",))  # a zo-sgd state
    with pytest.raises(InvalidArgument, match="this step needs x, m, v"):
        methods.method(method_name).update(state, np.ones(dim, np.float32), 1e-3, AdaMMConfig(), None)
    assert np.array_equal(state.x, np.ones(dim, np.float32)) and state.step == 0


INTERRUPTED_IMPORT = """
import os, signal, sys
import numpy as np
from zoadamm import adamm, projection
from zoadamm.constraints import Ball, FeasibleSet

def interrupt_soon(seconds):  # a Ctrl-C in the middle of numba's first import
    signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    signal.setitimer(signal.ITIMER_REAL, seconds)

for load in (adamm.compiled, projection._kernel):
    interrupt_soon(0.02)
    try:
        load()
        signal.pause()  # the held Ctrl-C came before the import ended: it comes now, if not yet
    except KeyboardInterrupt:
        pass
one = np.ones(1, np.float32)
adamm.compiled().update(one.copy(), one.copy(), one.copy(), one.copy(), one.copy(), None,
                        adamm.compiled_rates(adamm.AdaMMConfig(), 1.0, 1.0), True)
x = FeasibleSet(ball=Ball("2", 0.0, 1.0)).project(np.full(4, 3.0, np.float32), np.ones(4, np.float32))
print("numba" in sys.modules, float(np.linalg.norm(x)) <= 1.0)
"""


def test_a_ctrl_c_inside_the_first_import_of_the_compiled_code_waits_for_it():
    """numba interrupted halfway stays half made in the process ("module 'numba' has no attribute
    'core'" at every later step, until the interpreter restarts): the import holds a Ctrl-C."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", INTERRUPTED_IMPORT], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"], out.stderr[-2000:]


FIRST_USE_IN_THREADS = """
import threading
import numpy as np
from zoadamm import adamm
from zoadamm.constraints import Ball, Box, FeasibleSet

ball = FeasibleSet(Box(0.0, 1.0), Ball("2", 0.5, 0.2))
start, failures = threading.Barrier(8), []

def first_use():
    start.wait()
    try:
        x = ball.project(np.full(64, 3.0, np.float32), np.ones(64, np.float32))
        assert ball.violation(x) is None
        adamm.compiled().update
    except Exception as error:
        failures.append(repr(error))

threads = [threading.Thread(target=first_use) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(failures)
"""


def test_threads_that_use_the_compiled_code_first_at_once_all_get_it():
    """An attack's images in flight project on threads of their own: one thread found the
    module another was still making and failed (KeyError) when the first use peeked at it."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FIRST_USE_IN_THREADS], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]
