"""What ``minimize`` returns: its numbers, also under scipy.optimize.OptimizeResult's names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# scipy's names read as keys too (res["x"], as of its dict-like OptimizeResult)
_KEYS = ("x", "fun", "nit", "nfev", "success", "status", "message", "steps", "evaluations", "session_id")


@dataclass(frozen=True, eq=False)  # holds x: compared as an object, not field by field
class MinimizeResult:
    x: np.ndarray
    fun: float  # f at x, evaluated at the end
    steps: int  # the session's step count (a continued run counts its earlier steps too)
    evaluations: int  # of f: this call's, and a continued run's earlier steps' (q + 1 or 1 + 2q each), as steps
    session_id: str
    history: list[float] = field(repr=False)  # f(x) at each step this call took (too long to print)
    flat_steps: int = 0  # of this call's steps, those whose probes all gave f(x) itself: no difference to go by
    message: str = ""  # how the run ended: its steps reached, the callback's stop, or an x that never moved

    # scipy.optimize.OptimizeResult's names for the same numbers
    nit = property(lambda self: self.steps, doc="scipy's name: the steps")
    nfev = property(lambda self: self.evaluations, doc="scipy's name: the evaluations of f")
    success = property(lambda self: not (self.history and self.flat_steps == len(self.history)),
                       doc="False when no step of this call moved x (f flat at the scale of mu); errors raise")
    status = property(lambda self: 0 if self.success else 1, doc="scipy's code: 0 when success")

    def __getitem__(self, name: str):
        if name not in _KEYS:
            raise KeyError(name)
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return name in _KEYS

    def keys(self) -> tuple[str, ...]:  # dict(result) reads these
        return _KEYS
