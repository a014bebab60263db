"""``Mirrored``: what a run on a session's steps shows of them whether or not it mirrors the
service's update (``RemoteOptimizer``, ``SharedRun``): its id, its x, and whether it mirrors."""

from __future__ import annotations

import numpy as np

from ..optimizer import Optimizer
from .models import Session


class Mirrored:
    """A run on a session's steps that may mirror its update (``_mirror``) or else holds the
    x the service sent (``_x``)."""

    session: Session
    _mirror: Optimizer | None
    _x: np.ndarray

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def x(self) -> np.ndarray:
        """The current parameters, read-only; mirrored, a view the next step updates: copy to keep."""
        view = (self._mirror.state.x if self._mirror is not None else self._x).view()
        view.flags.writeable = False
        return view

    @property
    def mirrored(self) -> bool:
        return self._mirror is not None

    def __reduce__(self):
        raise TypeError(f"a {type(self).__name__} holds its client's connections and cannot be pickled: pass "
                        f"its session id ({self.id!r}) to the other process and resume or join it there "
                        "with a client of its own")
