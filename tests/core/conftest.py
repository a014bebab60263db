"""Fixtures shared by the core tests: a fresh interpreter, optionally on baseline SIMD (numpy's
and numba's)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _dispatchable_cpu_features() -> list[str]:
    """The CPU features numpy may pick kernels for at run time (names differ across versions)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_dispatch__
    return list(__cpu_dispatch__)


@pytest.fixture(scope="session")
def generic_numba_cache(tmp_path_factory):
    """One cache for the loops compiled for a generic x86-64, shared by the tests."""
    return tmp_path_factory.mktemp("numba-generic")


@pytest.fixture(params=["default-simd", "baseline-simd"])
def fresh_python(request, generic_numba_cache):
    """Run Python code in a new interpreter and return its stdout.

    The ``baseline-simd`` variant disables every run-time dispatched SIMD kernel of numpy and
    compiles numba's loops for a generic x86-64 (no AVX, into a cache of its own), so a result
    that matches it is not an accident of this machine's vector unit.  Raises
    ``subprocess.CalledProcessError`` when the child fails.
    """
    env = dict(os.environ)
    if request.param == "baseline-simd":
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(_dispatchable_cpu_features())
        env["NUMBA_CPU_NAME"] = "generic"
        env["NUMBA_CACHE_DIR"] = str(generic_numba_cache)

    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout

    return run
