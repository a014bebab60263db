"""``RemoteOptimizer``: drive one session from Python, one HTTP round trip per step.

Directions are regenerated here from (seed, step, index), so a step needs only the tell.  With
``mirror=True`` the client also keeps its own AdaMM state and applies the same update the service
journals (bit for bit: same code, element-wise IEEE operations); the service then answers with
a checksum instead of x, and a ZO step moves O(q) bytes each way.  A checksum mismatch switches
the client back to plain mode and fetches x.
"""

from __future__ import annotations

import numpy as np

from .. import wire
from ..directions import directions as make_directions
from ..optimizer import Optimizer, SessionConfig, StepRecord
from .client import Client
from .models import Session, TellResult


class RemoteOptimizer:
    def __init__(self, client: Client, session: Session | str, x0=None, mirror: bool = False) -> None:
        self.client = client
        self.session = session if isinstance(session, Session) else client.sessions.get(session)
        self.config = SessionConfig.from_dict(self.session.config)
        if x0 is not None:
            x0 = np.asarray(x0, dtype=np.float32).reshape(-1)
        info = client.sessions.ask(self.id, x=x0)  # sets x0 before step 0, checks it after
        self.step, self.mu, self.lr = info.step, info.mu, info.lr
        self._x = x0 if x0 is not None else client.sessions.parameters(self.id).x
        self._mirror = None
        if mirror and self.step == 0:  # moments are known (zero) only at the start
            self._mirror = Optimizer.start(self.config, self._x)
        self._directions: tuple[int, np.ndarray] | None = None
        self.mismatches = 0

    @classmethod
    def create(cls, client: Client, x0, *, mirror: bool = False, **config) -> "RemoteOptimizer":
        x0 = np.asarray(x0, dtype=np.float32).reshape(-1)
        session = client.sessions.create(x0.size, x0=x0, **config)
        return cls(client, session, mirror=mirror)

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def x(self) -> np.ndarray:
        """The current parameters (read-only view)."""
        view = (self._mirror.state.x if self._mirror else self._x).view()
        view.flags.writeable = False
        return view

    @property
    def mirrored(self) -> bool:
        return self._mirror is not None

    def directions(self) -> np.ndarray:
        """The open step's (q, d) directions, regenerated locally."""
        if self._directions is None or self._directions[0] != self.step:
            c = self.config
            self._directions = (self.step, make_directions(c.seed, self.step, c.directions, c.dim, c.distribution))
        return self._directions[1]

    def tell(self, f_x=None, f_plus=None, f_minus=None) -> np.ndarray:
        """Report the open step's function values; returns the new parameters."""
        return self._after(self._tell(f_x=f_x, f_plus=f_plus, f_minus=f_minus))

    def tell_gradient(self, gradient) -> np.ndarray:
        """Report an exact gradient (adamm sessions); returns the new parameters."""
        return self._after(self._tell(gradient=gradient), gradient=gradient)

    def report(self, value: float, **metrics: float) -> dict:
        """Report a validation value; lr and mu follow the session's plateau schedule."""
        entry = self.client.sessions.report(self.id, value, **metrics)
        self.lr, self.mu = entry["lr"], entry["mu"]
        return entry

    def _tell(self, **values) -> TellResult:
        answer = "checksum" if self._mirror is not None else "x"
        return self.client.sessions.tell(self.id, self.step, answer=answer, **values)

    def _after(self, result: TellResult, gradient=None) -> np.ndarray:
        if self._mirror is not None:
            if result.checksum != wire.checksum(self._mirror.state.x):
                self.mismatches += 1
                self._mirror = None
                self._x = self.client.sessions.parameters(self.id).x
            else:
                g = None if gradient is None else np.asarray(gradient, dtype=np.float32).reshape(-1)
                record = StepRecord(self.step, result.step_lr, coefficients=result.coefficients, gradient=g)
                uses_directions = result.coefficients is not None and self._directions is not None
                self._mirror.apply(record, directions=self.directions() if uses_directions else None)
        else:
            self._x = result.x  # a read-only view of the answer: no copy of d floats
        self.step, self.lr, self.mu = result.step, result.lr, result.mu
        return self.x
