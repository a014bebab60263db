"""``StepDirections``: the directions of a session's current step, and of the next when made
ahead, each made once however many callers need them.

A client that follows a session needs a step's directions twice: to evaluate f(x + mu u_i), then
to apply the step (``Optimizer.apply(..., directions=...)``); a worker that shares the step
evaluates only its leased rows, and may make the next step's directions while its tell waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ._validate import InvalidArgument, one_of, positive_int, unsigned64
from .directions import DISTRIBUTIONS, direction_rows


class StepDirections:
    """The (count, dim) directions of at most two steps of one session (seed, distribution).

    Arrays are handed out read-only.  By default a step new to the cache gets a fresh array, so
    an array handed out is never overwritten; with ``reuse=True`` the array of a forgotten step
    is made over (at large d a fresh one costs its page faults every step), so an array handed
    out holds its step's directions only until the step after next.  Not thread-safe: one
    caller at a time.

    Raises:
        InvalidArgument: on construction, a bad seed, count, dim or distribution.
    """

    def __init__(self, seed: int, count: int, dim: int, distribution: str = "sphere", *,
                 reuse: bool = False) -> None:
        self.seed, self.count = unsigned64("seed", seed), positive_int("count", count)
        self.dim, self.distribution = positive_int("dim", dim), one_of("distribution", distribution, DISTRIBUTIONS)
        self.reuse = reuse
        self._held: dict[int, tuple[np.ndarray, set[int], np.ndarray]] = {}  # step -> (made, rows made, view)

    def rows(self, step: int, indices: Iterable[int]) -> np.ndarray:
        """The directions of ``step`` (read-only), with at least rows ``indices`` made.  A step
        not held becomes the current one: the others are forgotten, but one made ahead for it.

        Raises:
            InvalidArgument: an index outside [0, count), or a bad step.
        """
        return self._make(step, indices, keep=step + 1)

    def all(self, step: int) -> np.ndarray:
        """Every direction of ``step`` (``rows`` of them all)."""
        return self._make(step, None, keep=step + 1)

    def ahead(self, step: int) -> None:
        """Make every direction of ``step`` now, keeping the current step (the one before)."""
        self._make(step, None, keep=step - 1)

    def held(self, step: int) -> np.ndarray | None:
        """Every direction of ``step`` when the cache holds that step (making the rows it still
        lacks), else None: the caller may then make them a block at a time instead."""
        return self.all(step) if step in self._held else None

    def _make(self, step: int, indices: Iterable[int] | None, keep: int) -> np.ndarray:
        """The view of ``step``'s directions with rows ``indices`` (None: all) made."""
        if indices is not None:  # checked before anything changes, and when every row is made too
            indices = [self._row(i) for i in indices]
        held = self._held.get(step)
        if held is None:
            forgotten = [h for s, h in self._held.items() if s != keep]
            self._held = {s: h for s, h in self._held.items() if s == keep}
            recycled = forgotten[0] if forgotten and self.reuse else None
            del forgotten  # freed before a new array is made
            held = self._held[step] = recycled or self._new()
            held[1].clear()
        made, done, view = held
        if not done and indices is None:  # the usual first call of a step: every row, in one go
            direction_rows(self.seed, step, range(self.count), self.dim, self.distribution, out=made)
            done.update(range(self.count))
        elif len(done) < self.count:
            wanted = range(self.count) if indices is None else indices
            missing = sorted(set(wanted) - done)
            for run in _runs(missing):  # consecutive rows are made straight into their place
                direction_rows(self.seed, step, run, self.dim, self.distribution, out=made[run.start : run.stop])
            done.update(missing)
        return view

    def _new(self) -> tuple[np.ndarray, set[int], np.ndarray]:
        made = np.empty((self.count, self.dim), np.float32)
        view = made.view()
        view.flags.writeable = False  # handed out: the cache alone writes the rows
        return made, set(), view

    def _row(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise InvalidArgument(f"a direction index is an integer, got {index!r}")
        if not 0 <= index < self.count:
            raise InvalidArgument(f"direction index {index!r} is outside [0, {self.count})")
        return int(index)


def _runs(rows: list[int]) -> Iterator[range]:
    """Sorted distinct ``rows`` as ranges of consecutive rows."""
    first = 0
    for k in range(1, len(rows) + 1):
        if k == len(rows) or rows[k] != rows[k - 1] + 1:
            yield range(rows[first], rows[k - 1] + 1)
            first = k
