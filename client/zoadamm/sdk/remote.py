"""``RemoteOptimizer``: drive one session from Python, one HTTP round trip per step.

Directions are regenerated here from (seed, step, index), so a step needs only the tell.

``mirror=True``: the client also keeps its own AdaMM state and applies the very update the
service journals (same code; element-wise IEEE operations give the same bits).  The service then
answers with the step's coefficients and a CRC of x instead of x, so a ZO step moves O(q) bytes
each way.  Any disagreement (a checksum, a coefficient, an lr) drops the mirror and fetches x.

``pipeline=True`` (with mirror): the tell for step t travels in a background thread while the
caller already evaluates step t+1 at the locally updated x; its answer is checked before the
next tell leaves.  At most one tell is ever unacknowledged, and it is retried until it is.
Use it as a context manager (or call ``close()``); ``zoadamm.sdk.fast_switching()`` around the
loop hands the sending thread the GIL sooner (the optimizer leaves the interpreter alone).
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future
from types import TracebackType
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from .. import wire
from .._interrupts import held_interrupt
from .._validate import InvalidArgument, one_d
from ..optimizer import Optimizer, StepRecord
from ..step_directions import StepDirections
from . import calls
from .client import Client, checked_client
from .errors import APIConnectionError, APIError, APIStatusError, ClientClosedError, ConflictError
from .forks import OneThread
from .mirrored import Mirrored, one_driver
from .models import Session, TellResult
from .settings import SessionSettings, Unpack

# Below this size a thread's hand-off is not worth the CRC it would take off this thread.
_BACKGROUND_CHECKSUM_BYTES = 1 << 20


def _check_modes(mirror: bool, pipeline: bool) -> None:
    if pipeline and not mirror:
        raise InvalidArgument("pipeline=True needs mirror=True: the next x must be known locally")


class RemoteOptimizer(Mirrored):
    """One session driven step by step: ``directions()``, evaluate, ``tell`` (``tell_gradient`` for
    adamm).  Made by ``create`` (a new session at x0) or ``resume`` (an existing one); the constructor
    takes a session (or its id) and, for a session created without x0, the x0 to start it from.  ``x``,
    ``step``, ``lr`` and ``mu`` are the open step's; ``mirrored`` says whether the state is kept here too
    (``mirror=True``).  Close it, or use it as a context manager, to wait for a pipelined tell in flight."""

    def __init__(
        self, client: Client, session: Session | str, x0=None, *, mirror: bool = False, pipeline: bool = False
    ) -> None:
        _check_modes(mirror, pipeline)
        self.client = client = checked_client(client)
        self.session = session if isinstance(session, Session) else client.sessions.get(session)
        try:
            self.config = self.session.session_config()
        except InvalidArgument:  # an answer without the constraint's vectors: the view has them
            self.session = client.sessions.get(self.session.id)
            self.config = self.session.session_config()
        x0 = None if x0 is None else one_d(x0, self.config.dim).copy()
        if x0 is not None and self.config.constraint is not None:
            self.config.constraint.admit(x0)  # onto X, as the service moves it (or refused alike)
        try:
            info = client.sessions.ask(self.id, x=x0)  # sets x0 before step 0, checks it after
        except ConflictError as error:
            if x0 is None and "no parameters yet" in str(error):  # made without x0, by another client
                raise InvalidArgument(f"session {self.id} has no parameters yet (it was created without x0): "
                                      f"give them, RemoteOptimizer(client, {self.id!r}, x0=...)") from error
            if x0 is not None and error.step:  # a script run again: its x0 is the session's past
                raise InvalidArgument(f"session {self.id} is at step {error.step}, where x is no longer x0: continue "
                                      f"it with RemoteOptimizer.resume(client, {self.id!r})") from error
            raise
        self.step, self.mu, self.lr = info.step, info.mu, info.lr
        self._x = x0 if x0 is not None else client.sessions.parameters(self.id).x
        self._mirror: Optimizer | None = None
        if mirror and self.step == 0:  # moments are known (zero) only at the start
            self._mirror = Optimizer.start(self.config, self._x)
            self._set_rates(info.lr, info.mu)  # metrics reported before step 0 may have moved them
        self._pipeline = pipeline
        self._sender = OneThread("zoadamm-tell") if mirror else None
        self._closed = False
        self._sending: int | None = None  # the step of the last tell sent (or being sent)
        self._unsure = False  # a tell's fate is unknown: the next tell takes the service's step and x first
        self._in_flight: tuple[Future, str, StepRecord] | None = None
        self._checksum_ahead: tuple[int, Future] | None = None  # the mirror's x at a step, summed in the background
        c = self.config
        self._directions = StepDirections(c.seed, c.directions, c.dim, c.distribution)
        self.mismatches = 0

    @classmethod
    def create(cls, client: Client, x0, *, mirror: bool = False, pipeline: bool = False, name: str | None = None,
               dim: int | None = None, **config: Unpack[SessionSettings]) -> RemoteOptimizer:
        """A new session starting at ``x0`` (a 1-D vector; d is its length).  ``config`` holds the
        session settings (``SessionSettings``: method, lr, mu, directions, seed, ...); ``dim``,
        when given, must equal d.

        ``constraint`` (a ``FeasibleSet`` or its dict) keeps every x in X: each step ends with the
        projection onto X, here in the mirror as in the service, and ``x0`` must lie in X.  The
        probes ``x + mu u`` that ``directions()`` leads to are not projected and may lie up to
        mu outside X near its boundary: ``f`` must be defined there, or pass
        ``constraint=X.shrunk(mu)``, whose probes stay in X (docs/constraints.md).

        Raises:
            zoadamm.InvalidArgument: x0 is not 1-D, ``dim`` disagrees with it, or a bad constraint.
            zoadamm.sdk.APIError: the service failed or refused the session (x0 outside X: 422).
        """
        client = checked_client(client)
        _check_modes(mirror, pipeline)  # before the session is made: a refused run leaves none behind
        x0 = one_d(x0, dim)
        session = client.sessions.create(x0.size, x0=x0, name=name, **config)
        return cls(client, session, mirror=mirror, pipeline=pipeline)

    @classmethod
    def resume(cls, client: Client, session_id: str, *, mirror: bool = False,
               pipeline: bool = False) -> RemoteOptimizer:
        """Continue an existing session from its current step and x (fetched from the service).

        Tells, retries and errors are those of a created run.  The mirror (``mirror=True``)
        needs the moments, which the service does not send, so a session resumed after step 0
        runs in plain mode (``mirrored`` is False) and ``pipeline`` then has no effect.

        Raises:
            zoadamm.sdk.NotFoundError: no session has this id.
            zoadamm.sdk.APIError: any other failure of the service.
        """
        return cls(client, session_id, mirror=mirror, pipeline=pipeline)

    def directions(self) -> np.ndarray:
        """The open step's (q, d) directions, regenerated locally (read-only; made once a step).
        With a constraint, x + mu u may lie outside X (see ``create``)."""
        return self._directions.all(self.step)

    def tell(self, f_x: float | None = None, f_plus: ArrayLike | None = None,
             f_minus: ArrayLike | None = None) -> np.ndarray:
        """Report the open step's function values; returns the new parameters.

        With ``pipeline=True``, when the check of the previous step finds the mirror wrong,
        these values were measured at an x the service does not hold: they are dropped, the
        step does not advance, and the service's x is returned to be measured again."""
        if f_x is None and self.config.difference != "central":  # as the service says it, before the mirror
            raise InvalidArgument("f_x is required for forward differences")
        if f_plus is None:
            raise InvalidArgument("tell needs f_plus, the values f(x + mu u_i) of the step's directions "
                                  "(an adamm session's exact gradient goes to tell_gradient)")
        values = {"f_x": f_x, "f_plus": f_plus, "f_minus": f_minus}
        return self._step(values, lambda m: m.zo_record(f_x, f_plus, f_minus))

    def tell_gradient(self, gradient: ArrayLike) -> np.ndarray:
        """Report an exact gradient (adamm sessions); returns the new parameters."""
        return self._step({"gradient": gradient}, lambda m: m.fo_record(gradient))

    def report(self, value: float, **metrics: float) -> dict:
        """Report a validation value; lr and mu follow the session's plateau schedule."""
        if self._closed:
            raise ClientClosedError(f"this run (session {self.id}) was closed; the client's "
                                    "sessions.report(session_id, value) reports on its session")
        self.flush()
        entry = self.client.sessions.report(self.id, value, **metrics)
        self._set_rates(entry["lr"], entry["mu"])
        return entry

    def flush(self) -> None:
        """Wait until every tell sent so far is acknowledged (and checked).  A tell the service
        refused (``APIStatusError``: a 409 when another writer moved the session) is raised here,
        after ``sync``: the mirror took a step the service did not.  Any other error (no answer,
        the client closed meanwhile) leaves the tell's fate unknown: the run is put back at the
        step the service surely holds, the mirror dropped, and the next tell takes the service's
        step and x first (``sync``), without asking now (the service may be away)."""
        if self._in_flight is not None:
            future, checksum, record = self._in_flight
            self._in_flight = None
            try:
                result = future.result()
            except APIStatusError:
                with contextlib.suppress(APIError):  # the refusal is the error to raise
                    self.sync()
                raise
            except Exception:
                if self._mirror is not None:  # its x is a step ahead of what the service may hold
                    self._x = self._mirror.state.x
                self._mirror, self._checksum_ahead, self._unsure = None, None, True
                self.step, self._sending = min(self.step, record.step), None  # close() asks nothing more
                raise
            self._check(result, checksum, record)

    def sync(self) -> None:
        """Take the service's step and x, and stop mirroring (the moments are the service's alone).
        Done for you when a tell is refused (``ConflictError``: values measured at an x the
        session has left) or a mirror's check fails; after a lost connection, call it to go on
        from where the service stands."""
        self._mirror, self._checksum_ahead = None, None
        fetched = self.client.sessions.parameters(self.id)
        self._x, self.step, self._unsure = fetched.x, fetched.step, False

    def close(self) -> None:
        """Wait for the tell in flight and stop the sending thread; a second call does nothing.
        A closed run takes no tell or report (``ClientClosedError``); ``resume`` continues it."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            if self._sender is not None:
                self._sender.shutdown()  # waits for a tell sent but never recorded as in flight
        if self._sending is not None and self._sending >= self.step:
            # an interrupt cut that step short after its tell went out: only the service knows if it landed
            self.step = max(self.step, self.client.sessions.get(self.id).step)

    def __enter__(self) -> RemoteOptimizer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        # already failing: the tell in flight gets to land, but its own error must not hide this one
        with contextlib.suppress(Exception) if kind is not None else contextlib.nullcontext():
            self.close()

    @one_driver
    def _step(self, values: dict, make_record) -> np.ndarray:
        if self._closed:  # its sending thread is gone, and a closed run should say so, not step on
            raise ClientClosedError(f"this run (session {self.id}) was closed at step {self.step}; "
                                    f"RemoteOptimizer.resume(client, {self.id!r}) continues it")
        if self._unsure:  # an earlier tell's fate is unknown: these values may be for a step already taken
            self.sync()
            return self.x
        mirrored = self._mirror is not None
        self.flush()
        if mirrored and self._mirror is None:
            return self.x  # values measured at the mirror's wrong x: never send them
        self._sending = self.step
        if self._mirror is None:
            try:
                result = self.client.sessions.tell(self.id, self.step, answer="x", **values)
            except ConflictError:  # another writer moved the session: these values were measured at an old x
                self.sync()
                raise
            except (APIConnectionError, ClientClosedError):  # no answer for the client's whole window (close()
                # must not wait another), or no client left to ask
                self._sending = None
                raise
            self._x = cast(np.ndarray, result.x)  # answer="x": a read-only view of it, no copy of d floats
            self.step = result.step
            self._set_rates(result.lr, result.mu)
            return self.x
        record = make_record(self._mirror)
        step = self.step
        checksum = self._mirror_checksum(step)
        assert self._sender is not None  # mirror mode always has its sending thread
        # built here, checked and with values of its own: the sending thread sends it after this
        # call returned, when the caller may refill its arrays for the next step
        future = self._sender.submit(self.client.run, calls.tell(self.id, step, answer="checksum", copied=True,
                                                                 **values))
        self._in_flight = (future, checksum, record)
        # the step's directions, when the caller had them made here (otherwise made a block at a time)
        made = self._directions.held(step) if record.coefficients is not None else None
        with held_interrupt():  # a Ctrl-C inside the update left x half moved, and the step untold
            self._mirror.apply(record, directions=made)
            self.step = step + 1
        if not self._pipeline:
            self.flush()
        elif self._mirror.state.x.nbytes >= _BACKGROUND_CHECKSUM_BYTES:
            # the CRC of the new x runs on the sending thread (zlib lets go of the GIL) while the
            # caller evaluates at it; x changes only in the next step's apply, which waits for it
            self._checksum_ahead = (self.step, self._sender.submit(wire.checksum, self._mirror.state.x))
        return self.x

    def _mirror_checksum(self, step: int) -> str:
        """The CRC of the mirror's x at ``step`` (before its update): the one summed in the
        background if there is one, else summed now."""
        assert self._mirror is not None
        ahead, self._checksum_ahead = self._checksum_ahead, None
        if ahead is not None and ahead[0] == step:
            return ahead[1].result()
        return wire.checksum(self._mirror.state.x)

    def _check(self, result: TellResult, checksum: str, record: StepRecord) -> None:
        agrees = (
            result.checksum == checksum and result.step_lr == record.lr
            and (record.coefficients is None
                 or (result.coefficients is not None and np.array_equal(result.coefficients, record.coefficients)))
        )
        if not agrees:  # e.g. another writer reported a metric: trust the service from now on
            self.mismatches += 1
            self.sync()
        else:  # a tell that landed after an interrupt cut its step short (close() waits for it)
            self.step = max(self.step, result.step)
        self._set_rates(result.lr, result.mu)

    def _set_rates(self, lr: float, mu: float) -> None:
        self.lr, self.mu = lr, mu
        if self._mirror is not None:
            self._mirror.lr, self._mirror.mu = lr, mu
