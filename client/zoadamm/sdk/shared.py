"""``SharedRun``: one of several workers that evaluate one session's steps together.

Each step's q directions are leased by the service to whichever worker asks (an ask with
``lease``); each worker evaluates f(x) and f(x + mu u_i) for its directions and tells them
with ``indices``; the tell that completes the step applies it.  A mirroring worker's tell
carries its lease fields too: it waits for the step to close and answers the closed step's
record with the worker's lease on the next step, so a worker makes one round trip per step.
Workers follow x without downloading it: every worker that joined at step 0 keeps its own
AdaMM state and applies each closed step from its coefficients (the tell's ``steps``, or the
next ask's), the same update bit for bit, checked against the service's CRC of x before each
step.  A worker that joins later replays the kept steps from x0; one that finds its x wrong
reads x from the service instead.

    run = SharedRun(client, session_id, x0, lease=4)
    while (work := run.next(until=1000)) is not None:
        u = run.directions(work.indices)
        f_x = f(run.x)
        run.tell(work, f_x, [f(run.x + np.float32(work.mu) * u_i) for u_i in u])
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from typing import cast

import numpy as np

from .. import wire
from .._validate import InvalidArgument, numbers
from ..optimizer import Optimizer, StepRecord
from ..step_directions import StepDirections
from . import calls
from .client import Client
from .errors import ConflictError
from .forks import OneThread
from .mirrored import Mirrored, one_driver
from .models import ClosedStep, StepInfo

log = logging.getLogger("zoadamm")

DEFAULT_WAIT = 10.0  # seconds an ask may block while other workers finish the step


@dataclass(frozen=True)
class Work:
    """Directions of the open step leased to this worker."""

    step: int
    indices: list[int]
    mu: float
    expires: float | None  # Unix time, by the service's clock
    until: int | None = None  # the ``until`` it was leased under: the tell leases the next step under it


class SharedRun(Mirrored):
    def __init__(self, client: Client, session_id: str, x0, *, lease: int, worker: str | None = None,
                 wait: float = DEFAULT_WAIT) -> None:
        """Join session ``session_id``; ``x0`` sets its parameters if nobody has yet, and at step 0
        must equal them.  Joining later, the worker follows the session's own steps (each checked
        by its checksum).  ``lease``: directions to evaluate at a time.

        Raises:
            zoadamm.InvalidArgument: x0 does not fit the session, lease is not a whole number >= 1, or
                the session's method takes gradients (adamm).
            zoadamm.sdk.ConflictError: at step 0, x0 differs from the session's parameters.
            zoadamm.sdk.APIError: any other failure of the service.
        """
        if isinstance(lease, bool) or not isinstance(lease, (int, np.integer)) or lease < 1:
            raise InvalidArgument(f"lease must be a whole number >= 1, got {lease!r}")
        lease = int(lease)
        self.client, self.lease, self.wait = client, lease, wait
        self.worker = worker or uuid.uuid4().hex
        self.session = client.sessions.get(session_id)
        self.config = self.session.session_config()  # from a GET: its constraint vectors too
        if not self.config.takes_values:  # said before x0 is sent: it would set an FO session's x
            raise InvalidArgument(f"session {session_id}'s method is {self.config.method}, which takes gradients; "
                                  "workers share the steps of the zo-* methods (they take function values)")
        x0 = numbers("x0", x0, np.float32).reshape(-1)
        if x0.size != self.config.dim:
            raise InvalidArgument(f"x0 has {x0.size} values; session {session_id} has dim {self.config.dim}")
        self._mirror: Optimizer | None = None
        self._x = x0
        if self.session.step == 0:
            try:
                info = client.sessions.ask(self.id, x=x0)  # sets x, or checks it against the first
            except ConflictError as error:  # the session moved past step 0 meanwhile: follow it
                if error.step in (None, 0):
                    raise
                info = client.sessions.ask(self.id)
            else:
                self._mirror = Optimizer.start(self.config, x0)
        else:
            info = client.sessions.ask(self.id)
        self.step, self.mu, self.lr = info.step, info.mu, info.lr
        self.mismatches = 0
        self._ready: Work | None = None  # leased by the last tell, for the next ``next``
        # the open step's directions, made once: the rows evaluated here are reused when the
        # mirror applies the step; the next step's are made on a thread while a tell waits.  Its
        # arrays are made over step after step: only copies of them leave this object
        c = self.config
        self._directions = StepDirections(c.seed, c.directions, c.dim, c.distribution, reuse=True)
        self._maker: OneThread | None = None
        self._work = np.empty(c.dim, dtype=np.float32)  # the mirror's gradient buffer
        if self._mirror is None:
            # joined late: replay the steps from x0 while the service still keeps them all
            self._mirror, self.step = Optimizer.start(self.config, x0), 0
            self._follow(client.sessions.ask(self.id, lease=1, worker=self.worker, since=0, until=0))
            # (steps no longer all kept: _follow has read x from the service and dropped the mirror)

    def next(self, until: int | None = None) -> Work | None:
        """Directions to evaluate on the open step, waiting while other workers hold them all;
        None once the session has reached step ``until`` (x is then at that step)."""
        ready, self._ready = self._ready, None
        while True:
            if until is not None and self.step >= until:
                return None
            if ready is not None and ready.step == self.step:
                return dataclasses.replace(ready, until=until)
            info = self.client.sessions.ask(self.id, lease=self.lease, worker=self.worker, wait=self.wait,
                                            since=self.step, until=until)
            self._follow(info)
            if info.leased and info.step == self.step:
                return Work(info.step, list(info.leased), info.mu, info.lease_expires, until)

    def directions(self, indices: list[int]) -> np.ndarray:
        """The (len(indices), d) directions of the open step, regenerated locally."""
        return self._directions.rows(self.step, indices)[indices]

    @one_driver
    def tell(self, work: Work, f_x, f_plus, f_minus=None) -> bool:
        """Report this worker's part of ``work.step``; True when x moved on.  A step that moved
        on without these values (another worker took over an expired lease and closed it) is not
        an error: the next ``next`` follows it.  A mirroring worker's tell waits for the step to
        close and brings back its lease on the next step (one round trip)."""
        self._ready = None
        if self._mirror is not None:
            return self._tell_and_lease(work, f_x, f_plus, f_minus)
        try:
            result = self.client.sessions.tell(self.id, work.step, f_x=f_x, f_plus=f_plus, f_minus=f_minus,
                                               indices=work.indices, answer="x")
        except ConflictError:
            return False
        if result.pending is not None:
            return False
        self._x, self.step = cast(np.ndarray, result.x), result.step  # the answer of a closed step holds x
        self.lr, self.mu = result.lr, result.mu
        return True

    def _make_ahead(self, step: int) -> None:
        """This step's directions not made yet (the mirror applies them all), then the next step's."""
        self._directions.all(step)
        self._directions.ahead(step + 1)

    def _tell_and_lease(self, work: Work, f_x, f_plus, f_minus) -> bool:
        if self._maker is None:
            self._maker = OneThread("zoadamm-directions")
        # made while the tell waits for the other workers' parts (a thread: the wait is I/O)
        making = self._maker.submit(self._make_ahead, work.step)
        try:
            result = self.client.sessions.tell(
                self.id, work.step, f_x=f_x, f_plus=f_plus, f_minus=f_minus, indices=work.indices,
                answer="checksum", lease=self.lease, worker=self.worker, wait=self.wait, until=work.until)
        except ConflictError:
            return False  # the step closed without these values: the next ask follows it
        finally:
            making.result()
        self.lr, self.mu = result.lr, result.mu
        moved = result.step > self.step
        if moved:
            if result.steps is not None and len(result.steps) == result.step - self.step:
                self._apply(result.steps)
            if self.step != result.step:
                self._read_x()
        if result.leased and result.step == self.step:
            self._ready = Work(result.step, list(result.leased), result.mu, result.lease_expires, work.until)
        return moved

    def report(self, value: float, key: str, **metrics: float) -> dict:
        """Report a validation value once for all workers: every worker sends the same ``key``
        (as the Idempotency-Key) with the same values, and the first one counts."""
        call, parse = calls.report(self.id, value, **metrics)
        entry = self.client.run((dataclasses.replace(call, key=f"{self.id}:{key}"), parse))
        self.lr, self.mu = entry["lr"], entry["mu"]
        return entry

    def _follow(self, info: StepInfo) -> None:
        """Bring x to the open step ``info.step``."""
        self.lr, self.mu = info.lr, info.mu
        if info.step == self.step:
            return
        if info.step < self.step:  # the steps between are evaluated again, as a solo run's would be
            log.warning("zoadamm: session %s went back from step %d to step %d: its store lost acknowledged "
                        "steps (a Redis restarted from an older save?); following it from there",
                        self.id, self.step, info.step)
        if self._mirror is not None and info.steps is not None and len(info.steps) == info.step - self.step:
            self._apply(info.steps)
        if self.step != info.step:
            self._read_x()

    def _apply(self, steps: list[ClosedStep]) -> None:
        for closed in steps:
            assert self._mirror is not None
            if closed.step != self.step or closed.checksum != wire.checksum(self._mirror.state.x):
                self.mismatches += 1
                self._read_x()
                return
            made = self._directions.held(closed.step)  # None: made a block at a time instead
            self._mirror.apply(StepRecord(closed.step, closed.lr, coefficients=closed.coefficients), self._work, made)
            self.step += 1

    def _read_x(self) -> None:
        """Drop the mirror and take x from the service (the moments are not sent)."""
        self._mirror = None
        fetched = self.client.sessions.parameters(self.id)
        self._x, self.step = fetched.x, fetched.step
