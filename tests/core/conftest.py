"""Fixtures shared by the core tests: a fresh interpreter, optionally on numpy's baseline SIMD."""

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


@pytest.fixture(params=["default-simd", "baseline-simd"])
def fresh_python(request):
    """Run Python code in a new interpreter and return its stdout.

    The ``baseline-simd`` variant disables every run-time dispatched SIMD kernel, so a result
    that matches it is not an accident of this machine's vector unit.  Raises
    ``subprocess.CalledProcessError`` when the child fails.
    """
    env = dict(os.environ)
    if request.param == "baseline-simd":
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(_dispatchable_cpu_features())

    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout

    return run
