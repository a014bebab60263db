"""What one image's attack has achieved so far, in queries sent to the victim.

Every batch of probabilities an attack receives passes ``QueryWatch.observe``.  The first image
the victim classifies as anything but the label is the success, and the query that found it is
the count at that image (its position in the batch included).  A failed attack keeps the point
of smallest margin it saw.  The attacker counts every image it sends (``QueryCount``); a victim
that says its own count of the attack's tag must agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .feasible import norms
from .victim_client import VictimError

# The smallest normal float32 and its log: a probability that underflowed to 0 has a finite log.
FLOOR = float(np.finfo(np.float32).tiny)
LOG_FLOOR = float(np.log(FLOOR))


class Stop(Exception):
    """The attack on one image is over: it succeeded, or its query budget is spent."""


class QueryCount:
    """The queries of one tag: every image sent, counted here, so that a budget rests on what
    the attacker sent.  Where the victim's answer says its own count of the tag, the two must
    move together: a victim that counts something else (requests, or every tag at once) would
    make the numbers of a run wrong without a word."""

    def __init__(self) -> None:
        self.sent = 0
        self._start: int | None = None  # the victim's count of the tag before the first request

    def add(self, images: int, victim_count: int | None) -> int:
        """The count after a request of ``images``; ``victim_count``: the victim's after it, or None.

        Raises:
            VictimError: the victim's count moved by another number than the images sent.
        """
        self.sent += images
        if victim_count is not None:
            if self._start is None:
                self._start = victim_count - images
            if victim_count - self._start != self.sent:
                raise VictimError(
                    f"the victim counted {victim_count - self._start} queries of this attack's tag where "
                    f"{self.sent} images were sent: its answer's counted must be its count of the request's tag "
                    "(or leave counted out, and the attacker's count stands)")
        return self.sent


def margins(probabilities: np.ndarray, label: int) -> np.ndarray:
    """log p_y − max_{j≠y} log p_j for each row of ``probabilities`` (k, classes); negative
    exactly when the victim's answer is another class than ``label``."""
    logs = np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), FLOOR))
    others = np.delete(logs, label, axis=1)
    return logs[:, label] - others.max(axis=1)


@dataclass(frozen=True)
class Outcome:
    """One image's result: the adversarial δ (or, failing that, the best δ seen) and its numbers."""

    success: bool
    queries: int
    delta: np.ndarray
    margin: float
    predicted: int

    def record(self) -> dict:
        """The JSON fields of a per-image record."""
        linf, l2 = norms(self.delta[None])
        return {"success": self.success, "queries": self.queries, "linf": float(linf[0]),
                "l2": float(l2[0]), "margin": self.margin, "predicted": self.predicted}


class QueryWatch:
    """The queries, the first success and the best point of the attack on ``origin`` (flat).

    Raises:
        ValueError: a budget below 1.
    """

    def __init__(self, origin: np.ndarray, label: int, budget: int) -> None:
        if budget < 1:
            raise ValueError(f"budget must be at least 1 query, got {budget}")
        self.origin, self.label, self.budget = origin, label, budget
        self._count = QueryCount()
        self._best: Outcome | None = None

    @property
    def counted(self) -> int:
        """The queries sent for this image so far."""
        return self._count.sent

    @property
    def succeeded(self) -> bool:
        return self._best is not None and self._best.success

    @property
    def remaining(self) -> int:
        return self.budget - self.counted

    @property
    def done(self) -> bool:
        return self.succeeded or self.remaining <= 0

    def observe(self, images: np.ndarray, probabilities: np.ndarray, counted: int | None = None) -> None:
        """Take in the answer to a batch of ``images`` (k, d); ``counted``: the victim's count of
        the attack's tag after it, where it says one (``QueryCount``).  Nothing changes once the
        attack has succeeded."""
        counted = self._count.add(len(images), counted)
        if self.succeeded:
            return
        values = margins(probabilities, self.label)
        success = bool((values < 0).any())
        first = int(np.argmax(values < 0)) if success else int(np.argmin(values))
        if not success and self._best is not None and values[first] >= self._best.margin:
            return
        self._best = Outcome(
            success=success, queries=counted - len(values) + first + 1,
            delta=np.asarray(images[first], dtype=np.float32) - self.origin,
            margin=float(values[first]), predicted=int(np.argmax(probabilities[first])))

    def outcome(self) -> Outcome:
        """The result so far; queries are all the victim counted unless the attack succeeded.

        Raises:
            RuntimeError: nothing has been observed yet.
        """
        if self._best is None:
            raise RuntimeError("no query has been answered for this image")
        if self._best.success:
            return self._best
        return Outcome(False, self.counted, self._best.delta, self._best.margin, self._best.predicted)
