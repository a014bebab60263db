"""CPU seconds that processes (and the whole machine) used between two instants, from /proc
(Linux), sampled on a thread: the instants come afterwards (from the service's trace), so the
cumulative counters are sampled every ``period`` seconds and interpolated."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
from harness import process_tree_cpu

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy since boot (every process, ours or not)."""
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in open("/proc/stat").readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


class CpuSampler:
    """``with CpuSampler({"workers": [pid, pid], "service": [pid]}) as cpu: ...``, then
    ``cpu.between(t0, t1)``: CPU seconds per name in [t0, t1] (Unix time), with ``machine``
    (every process on the machine) and ``sampler`` (this process, which runs the sampling)."""

    def __init__(self, pids: dict[str, list[int]], period: float = 0.05) -> None:
        self.pids, self.period = pids, period
        self._last: dict[int, float] = {}  # a process that exited keeps its last reading
        self._rows: list[tuple[float, ...]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def _sample(self) -> None:
        row = [time.time()]
        for pids in self.pids.values():
            total = 0.0
            for pid in pids:
                now = process_tree_cpu(pid)
                self._last[pid] = max(now, self._last.get(pid, 0.0))
                total += self._last[pid]
            row.append(total)
        row += [machine_busy(), time.process_time()]
        self._rows.append(tuple(row))

    def between(self, t0: float, t1: float) -> dict[str, float]:
        rows = np.array(self._rows)
        names = [*self.pids, "machine", "sampler"]
        return {name: float(np.interp(t1, rows[:, 0], rows[:, i + 1]) - np.interp(t0, rows[:, 0], rows[:, i + 1]))
                for i, name in enumerate(names)}
