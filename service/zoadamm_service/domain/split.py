"""Steps split between workers: each reports some of the q directions (``indices``), and the
step is applied when all q are in; a part may lease the next step's directions too
(``NextLease``, answered in ``Told``).  The reports wait in the store's partials, one canonical
JSON row per direction, so that equal values give equal rows whichever replica got them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from zoadamm import SessionConfig
from zoadamm.estimators import check_part_size, zo_coefficients

from ..store.base import Leased, Store
from .answers import TellAnswer

if TYPE_CHECKING:
    from .replica import Replica


StepRows = tuple[int, dict[int, str]]  # a step, and its reports by direction index (``part_rows``)


@dataclass(frozen=True)
class Gathered:
    rows: tuple[str, ...] | None  # all q reports in index order, once the step is complete
    missing: list[int]  # directions nobody reported yet
    changed: list[int]  # directions reported before with other values (then none of these was recorded)

    def refusal(self, step: int) -> str:
        """The 409's words for a part that re-reports ``changed`` with other values."""
        which = f"direction {self.changed[0]}" if len(self.changed) == 1 else f"directions {self.changed}"
        return (f"{which} of step {step} already reported with other values; none of this report's directions "
                "was recorded")


def part_rows(indices: list[int], f_x: np.ndarray, f_plus: np.ndarray, f_minus: np.ndarray | None) -> dict[int, str]:
    """One direction's report as canonical JSON: equal values give equal strings.  The values as
    sent (-0.0 is not 0.0): the rows of parts already recorded, and of closed steps in the
    journal, were written so, and a repeat must still find them."""
    return {
        i: json.dumps([float(f_x[k]), float(f_plus[k]), None if f_minus is None else float(f_minus[k])])
        for k, i in enumerate(indices)
    }


async def gather(store: Store, lease_seconds: float, replica: Replica, step: int, parts: dict[int, str],
                 next_lease: NextLease | None) -> tuple[Gathered, Granted | None]:
    """Record a part; with ``next_lease``, lease the next step's directions in the same call."""
    cfg, granted = replica.config, None
    if next_lease is None:
        reported = await store.add_partials(replica.meta.id, step, parts, replica.meta.created)
    else:
        reported, leased = await store.add_partials_and_lease(
            replica.meta.id, step, parts, replica.seq, cfg.directions, min(next_lease.count, cfg.directions),
            next_lease.worker, lease_seconds, replica.meta.created, replica.tag)
        expires = time.time() + lease_seconds if leased is None else leased.expires()
        granted = Granted(leased, time.monotonic(), expires)
    return compare(reported, parts, cfg.directions), granted


def check_part(f_x: np.ndarray, f_plus: np.ndarray, f_minus: np.ndarray | None, config: SessionConfig,
               mu: float) -> None:
    """Refuse (InvalidArgument, 422) a part whose directions could make a step that its other
    parts cannot save: before it is recorded, since a recorded part stays."""
    part = zo_coefficients(f_x, f_plus, f_minus, mu=mu, dim=config.dim, distribution=config.distribution,
                           difference=config.difference) * (f_plus.size / config.directions)  # scaled by the step's q
    check_part_size(part, config.directions, config.distribution)


def part_columns(rows: tuple[str, ...], config: SessionConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """f_x, f_plus and f_minus of a complete step, from its rows."""
    table = np.array([json.loads(row) for row in rows], dtype=np.float64)
    return table[:, 0], table[:, 1], None if config.difference == "forward" else table[:, 2]


def compare(reported: dict[int, str], parts: dict[int, str], directions: int) -> Gathered:
    """What the step's reports so far (``reported``) make of these ``parts``."""
    # the store records a report's parts all or none: a part not there was refused with the rest
    changed = sorted(i for i, row in parts.items() if i in reported and reported[i] != row)
    missing = sorted(set(range(directions)) - set(reported))
    rows = None if changed or missing else tuple(reported[i] for i in range(directions))
    return Gathered(rows, missing, changed)


@dataclass(frozen=True)
class NextLease:
    """Sent with a part of a split step: lease ``count`` directions of the step after it to
    ``worker``, in the store call that records the part (``Store.add_partials_and_lease``)."""

    count: int
    worker: str


@dataclass(frozen=True)
class Granted:
    """What a ``NextLease`` got: ``leased`` (None once the head had moved on), granted at ``at``
    (monotonic), running out at ``expires`` (Unix time)."""

    leased: Leased | None
    at: float
    expires: float


@dataclass(frozen=True)
class Told:
    """A ZO tell's answer, and what its ``NextLease`` got (None when it asked for none)."""

    answer: TellAnswer
    next_lease: Granted | None = None
