"""torch's thread count, which is process-wide: the programs set it, never a library object."""

from __future__ import annotations

import os

import torch


def default_threads() -> int:
    """The CPUs this process may run on (torch's default counts the whole machine's cores)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def use_torch_threads(threads: int | None = 1) -> None:
    """Set torch's process-wide intra-op thread count (None: every CPU this process may use).

    The programs call this, never the objective: it changes the whole process.  They use one
    thread: on a machine shared with the service, more threads spin and starve the service.
    """
    torch.set_num_threads(threads or default_threads())
