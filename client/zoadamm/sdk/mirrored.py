"""``Mirrored``: what a run on a session's steps shows of them whether or not it mirrors the
service's update (``RemoteOptimizer``, ``SharedRun``): its id, its x, and whether it mirrors."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from .._validate import InvalidArgument
from ..optimizer import Optimizer
from .models import Session

_MAKING = threading.Lock()  # each run's lock is made once, whichever thread asks first
_Run = TypeVar("_Run", bound="Mirrored")
_Args = ParamSpec("_Args")
_Result = TypeVar("_Result")


def one_driver(step: Callable[Concatenate[_Run, _Args], _Result]) -> Callable[Concatenate[_Run, _Args], _Result]:
    """``step`` refuses a second thread while one is in it: a run is driven by one thread at a
    time, and two in one step read each other's half-made state (a record for step 0 applied at
    step 1, a 409 for a step the other thread closed)."""
    @functools.wraps(step)
    def driven(self: _Run, *args: _Args.args, **kwargs: _Args.kwargs) -> _Result:
        driving = self.__dict__.get("_driving") or _made_lock(self)
        if not driving.acquire(blocking=False):
            raise InvalidArgument(f"{type(self).__name__} of session {self.id} was told from two threads at once: a "
                                  "run is driven by one thread at a time; give each thread a run of its own, or a "
                                  "SharedRun of its own on the same session to share its steps")
        try:
            return step(self, *args, **kwargs)
        finally:
            driving.release()
    return driven


def _made_lock(run: Any) -> threading.Lock:
    """``run``'s driving lock, made on its first step: one lock, whichever thread asks first."""
    with _MAKING:
        return run.__dict__.setdefault("_driving", threading.Lock())


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
