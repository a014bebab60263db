"""``fast_switching``: the interpreter's thread switch interval lowered for a pipelined run."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

PIPELINE_SWITCH_INTERVAL = 2e-4  # seconds; see fast_switching


@contextlib.contextmanager
def fast_switching(interval: float = PIPELINE_SWITCH_INTERVAL) -> Iterator[None]:
    """Lower the interpreter's thread switch interval (``sys.setswitchinterval``) to at most
    ``interval`` seconds inside the block, and restore it after.

    A pipelined optimizer sends its tells from a thread that needs the GIL for a short while
    each step; at the default interval (5 ms) it waits for the evaluating thread to let go of
    the GIL for most of a step.  The setting is the whole process's, so the program decides::

        with zoadamm.sdk.fast_switching(), RemoteOptimizer.create(..., mirror=True, pipeline=True) as run:
            ...
    """
    saved = sys.getswitchinterval()
    if interval >= saved:  # never raised (nor set again: it is kept in whole microseconds)
        yield
        return
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(saved)
