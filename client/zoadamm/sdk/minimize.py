"""``minimize(f, x0)``: a whole ZO run (ZO-AdaMM by default) of a Python callable through the service.

A run can be continued: after Ctrl-C, ``minimize`` says which call continues it, and
``name=..., resume=True`` finds the tenant's session of that name and settings (or creates it,
as Optuna's ``load_if_exists`` does), so the same call serves the first start and every restart.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable

import numpy as np

from .._interrupts import held_interrupt
from .._validate import InvalidArgument, one_d, positive_int, shown
from ..constraints import FeasibleSet
from ..methods import METHODS, method
from .bounds import box_of
from .client import DEFAULT_URL, Client, checked_client
from .errors import APIConnectionError, ConflictError, NotFoundError
from .interrupted import Interrupted
from .models import Session, SessionSummary
from .progress import Progress
from .remote import RemoteOptimizer
from .result import MinimizeResult
from .resume import call_again, check_session, find_session
from .settings import SessionSettings, Unpack, check_names
from .values import NotFinite, check_callback, probe_value, stops, value_of

log = logging.getLogger("zoadamm")


def minimize(
    f: Callable[[np.ndarray], float],
    x0,
    *,
    steps: int = 1000,
    client: Client | None = None,
    base_url: str | None = None,
    name: str | None = None,
    resume: bool = False,
    session_id: str | None = None,
    progress: bool = True,
    mirror: bool = False,
    pipeline: bool = False,
    report_every: int | None = None,
    callback: Callable[[int, np.ndarray, float], bool | None] | None = None,
    bounds=None,
    warn: bool = True,
    **config: Unpack[SessionSettings],
) -> MinimizeResult:
    """Minimise ``f`` from ``x0`` with a ZO method (``method``, zo-adamm by default) run by the
    service, until the session reaches step ``steps``; only f values are sent.

    The service is ``client``, else a client of ``base_url`` (closed at the end).  With
    neither, it is http://127.0.0.1:8000, and a WARNING on the ``zoadamm`` logger names it: a
    run should not land silently on whatever service happens to answer there.

    ``config`` holds the session settings (``SessionSettings``: lr, mu, directions, distribution,
    difference, seed, schedule, ...).  ``name`` names the session (the dashboard shows it).
    ``resume=True`` continues the newest session of the caller's tenant with this ``name``, d,
    the settings given in ``config`` and the same feasible set (none given: a session without
    one; ``bounds=(0, 1)`` and ``bounds=[(0, 1)] * d`` are one box), and creates one when there
    is none; ``session_id`` continues that session, checked the same way.  A continued run goes
    on from the session's step and x (``x0`` then only gives d).  ``mirror``/``pipeline``: see
    ``RemoteOptimizer``.  With ``report_every=N``, f(x) is reported as the metric every N
    steps so the plateau schedule acts.  ``f`` gets x as a read-only float32 array (copy it to
    change it) and must return a finite real number (not a bool or a complex).  A new run that
    fails before its first step (f raises at x0, or the first tell is refused) deletes the
    session it made.
    ``callback(step, x, f_x)`` runs after each step with the new step and x (an array of its
    own, which later steps leave as it is) and f at the x before it (the value just told);
    returning True (or np.True_) or raising StopIteration in it ends the run there, as in scipy.

    ``bounds`` keeps x in a box: ``(lo, hi)`` (numbers, or d-vectors), scipy's list of d
    ``(lo, hi)`` pairs (at d = 2 a 2 x 2 list is read as pairs) or ``scipy.optimize.Bounds``;
    None, or inf of that side's sign, for no bound; ``config["constraint"]`` takes any
    ``FeasibleSet`` (or its dict) instead.  Every step ends in X, but ``f`` is also evaluated
    at the probes x + mu u, which may lie up to mu outside it: ``f`` must be defined there, or
    pass ``constraint=FeasibleSet(...).shrunk(mu)`` (docs/constraints.md, "The probes x + μu
    leave X").  x0 must lie in X.

    A run whose every step was flat (``result.flat_steps``: each probe gave f(x) itself, so x did
    not move), that ended with f above where it began, or that took no step (its session was
    already at ``steps``), says so in a WARNING on the ``zoadamm`` logger; ``warn=False`` leaves
    that to the caller, who reads the same from the result.

    Raises:
        zoadamm.InvalidArgument: a bad x0, setting or bound (found before any request when it can be),
            ``resume`` without ``name``, or a ``session_id`` whose d, settings or feasible set differ.
        zoadamm.sdk.APIError: the service failed or refused (see its subclasses).
        zoadamm.ObjectiveError: ``f`` returned something other than one finite number (a ValueError).
        zoadamm.sdk.Interrupted: Ctrl-C; its message says which call continues the run.
    """
    if not callable(f):  # else a TypeError at the first evaluation, after a session was made for nothing
        swapped = "; f comes first, then x0" if callable(x0) else ""
        raise InvalidArgument(f"f must be the objective, a callable taking x; got {shown(f)}{swapped}")
    _check_arguments(x0, steps, report_every, callback, resume, name, bounds, config)
    if client is not None and base_url is not None:  # one of them would be ignored
        raise InvalidArgument("give client or base_url, not both (a client already names its service)")
    own_client = client is None
    if client is None and base_url is None:
        log.warning("minimize: no client or base_url given; using the service at %s", DEFAULT_URL)
    client = client or Client(DEFAULT_URL if base_url is None else base_url)  # "" is refused, not the default
    try:
        options = {"base_url": base_url, "mirror": mirror, "pipeline": pipeline, "report_every": report_every}
        given = {"steps": steps, **({} if progress else {"progress": False}), **({} if warn else {"warn": False}),
                 **{k: v for k, v in options.items() if v}}

        def again(session: str | None) -> str:  # None: the call that starts the run over
            return call_again(given, config, name=name, session_id=session, with_client=not own_client,
                              bounds=bounds is not None, callback=callback is not None)

        try:
            run = start_run(client, x0, name=name, resume=resume, session_id=session_id, mirror=mirror,
                            pipeline=pipeline, **config)
        except NotFoundError as gone:  # a session_id deleted, expired or lost before this call
            if session_id is not None and not gone.no_such_path:
                gone.add_note(f"zoadamm.minimize: session {session_id} is gone from the service, and its steps "
                              f"with it; {again(None)} starts the run over")
            raise

        try:
            with run:
                return _run(run, f, steps, progress, report_every, callback, warn)
        except KeyboardInterrupt as stop:
            raise Interrupted.of(f"zoadamm.minimize: interrupted at step {run.step} of {steps} (session {run.id}); the "
                              f"steps told are kept, and {again(run.id)} continues the run", run.id, run.step) from stop
        except APIConnectionError as lost:  # the service was there: say where the run stands, not how to start one
            where = f" ({lost.url})" if lost.url else ""
            raise type(lost)(f"zoadamm.minimize: the service stopped answering{where} at step {run.step} of {steps} "
                             f"(session {run.id}); a service on Redis keeps the steps told, and {again(run.id)} "
                             "continues the run once it answers again", lost.url, run.id, run.step) from lost
        except Exception as failed:  # f raised, or a tell was refused
            if isinstance(failed, NotFoundError) and not failed.no_such_path:  # nothing is left to continue
                failed.add_note(f"zoadamm.minimize: session {run.id} is gone from the service (at step {run.step} "
                                f"of {steps}), and its steps with it; {again(None)} starts the run over")
            elif session_id is None and not resume and run.step == 0:
                _forget(client, run.id)
            else:  # shown under the traceback: where the run stands, and what continues it
                # this run's own retries are answered as the first try: a 409 is another client's step
                other = "; another client tells this session's steps too" if isinstance(failed, ConflictError) else ""
                failed.add_note(f"zoadamm.minimize: session {run.id} is at step {run.step} of {steps}{other}; "
                                f"{again(run.id)} continues the run")
            raise
    finally:
        if own_client:
            client.close()


def _check_arguments(x0, steps: int, report_every: int | None, callback, resume: bool, name: str | None, bounds,
                     config: SessionSettings) -> None:
    """``minimize``'s arguments, checked first; ``bounds`` (or a dict) become ``config``'s constraint."""
    check_names(config, arguments=("x0", *_OWN_ARGUMENTS))  # "step=" meant steps, not a setting
    if name is not None and not (isinstance(name, str) and name.strip()):  # "" read as no name, or blank
        raise InvalidArgument(f"name must be a session's name with something in it, or None; got {shown(name)}")
    if resume and not name:
        raise InvalidArgument("resume=True finds a session by its name: give name= too")
    positive_int("steps", steps)
    if report_every is not None:
        positive_int("report_every", report_every)
    if callback is not None:
        check_callback(callback)
    chosen = config.get("method")
    if isinstance(chosen, str) and chosen in METHODS and method(chosen).takes != "values":
        raise InvalidArgument(f"minimize evaluates f, so it drives the zo-* methods; {chosen!r} takes "
                              "gradients (RemoteOptimizer.tell_gradient)")
    if bounds is not None:
        if config.get("constraint") is not None:
            raise InvalidArgument("give bounds or constraint, not both (a FeasibleSet may hold a box and a ball)")
        config["constraint"] = box_of(bounds, x0)
    elif isinstance(as_dict := config.get("constraint"), dict):  # as the session will hold it (float32, bounds inward)
        config["constraint"] = FeasibleSet.from_dict(as_dict)


def _forget(client: Client, session_id: str) -> None:
    """Delete the session a new run made when it failed before its first step (f raised, or
    the first tell was refused): nothing was done in it, and a call made again would make
    another.  A run by ``name`` with ``resume=True`` keeps it, for that call to find."""
    try:
        client.sessions.delete(session_id)
    except Exception as failed:  # the error that ended the run matters more than this one
        log.info("minimize: session %s left at step 0 (%s)", session_id, failed)


def _kept(x: np.ndarray) -> np.ndarray:
    """The mirror's x, a view the next step updates, as plain mode's: its own array, read-only."""
    x = x.copy()
    x.flags.writeable = False
    return x


_OWN_ARGUMENTS = tuple(name for name in inspect.signature(minimize).parameters if name not in ("f", "x0", "config"))


def start_run(client: Client, x0, *, name: str | None = None, resume: bool = False, session_id: str | None = None,
              mirror: bool = False, pipeline: bool = False, **config: Unpack[SessionSettings]) -> RemoteOptimizer:
    """A ``RemoteOptimizer`` on a new session starting at ``x0``, or on the session to continue:
    ``session_id``'s, or (``resume=True``) the newest one named ``name`` with x0's d and the
    settings in ``config`` (a new one when there is none).  See ``minimize``.

    Raises:
        zoadamm.InvalidArgument: x0 is not 1-D, or ``session_id``'s d, settings or feasible set differ.
        zoadamm.sdk.APIError: the service failed or refused.
    """
    x0, client = one_d(x0), checked_client(client)
    found: Session | SessionSummary | None = None
    if session_id is not None:
        found = client.sessions.get(session_id)
        check_session(found, x0.size, config)  # its d, settings and feasible set
    elif resume:
        found = find_session(client, name, x0.size, config)
    if found is None:
        return RemoteOptimizer.create(client, x0, mirror=mirror, pipeline=pipeline, name=name, **config)
    log.info("continuing session %s (%s)", found.id, name or "unnamed")
    return RemoteOptimizer.resume(client, found.id, mirror=mirror, pipeline=pipeline)


def _run(run: RemoteOptimizer, f, steps: int, progress: bool, report_every, callback, warn: bool) -> MinimizeResult:
    central = run.config.difference == "central"
    method = run.config.method
    bar = Progress(steps - run.step, method if run.step == 0 else f"{method} from step {run.step}", enabled=progress)
    history, evaluations, flat = [], 0, 0  # flat: the steps whose probes all gave f(x) itself
    earlier = run.step * run.config.evaluations_per_step  # the steps a continued run took before this call
    if run.step >= steps and warn:
        log.warning("minimize: session %s is already at step %d, not below steps=%d: no step taken (pass a "
                    "larger steps to go on)", run.id, run.step, steps)
    message = f"reached step {steps}" if run.step < steps else f"no step taken: the session is at step {run.step}"
    try:
        while run.step < steps:
            x = run.x
            f_x = value_of(f, x)
            plus, minus = [], []
            for u in run.directions():
                plus.append(probe_value(f, x + np.float32(run.mu) * u, run.config.constraint))
                if central:
                    minus.append(probe_value(f, x - np.float32(run.mu) * u, run.config.constraint))
            evaluations += run.config.evaluations_per_step
            step = run.step
            due = bool(report_every) and (step + 1) % report_every == 0
            with held_interrupt() if due else contextlib.nullcontext():  # the step and its report, or neither
                run.tell(f_x=f_x, f_plus=plus, f_minus=minus if central else None)
                if due and run.step == step + 1:
                    run.report(f_x)
            if run.step == step:  # a failed mirror check dropped these values: measure again
                continue
            history.append(f_x)
            flat += all(value == f_x for value in (*plus, *minus))
            stop = False
            if callback is not None:
                try:
                    stop = stops(callback(run.step, _kept(run.x) if run.mirrored else run.x, f_x))
                except StopIteration:  # scipy's way to end a run early
                    stop = True
            bar.update(1, f=f_x, lr=run.lr)
            if stop:
                message = f"stopped by the callback at step {run.step}"
                break
        run.flush()  # the last tell is checked before x is read
    except NotFinite as diverged:
        if history:  # f was finite at every step before: the steps ran away
            diverged.add_note(f"zoadamm.minimize: f was finite at the {len(history)} steps before ({history[0]:.6g} "
                              f"at the first, {history[-1]:.6g} at the last): the run diverged; a smaller lr (now "
                              f"{run.lr:.3g}) or more directions usually steadies it")
        raise
    finally:
        bar.close()
    x = np.array(run.x)
    still = bool(history) and flat == len(history)  # no step had a difference to estimate from
    fun = value_of(f, x)
    if still:
        message = "x did not move: f gave the same value at x and at every probe (mu below what f resolves)"
    elif history and fun > history[0]:  # success stays: the run did its steps, and near a minimum this is noise
        message += f"; f ended above where it began ({history[0]:.6g} at the first step, {fun:.6g} at the end)"
    result = MinimizeResult(x, fun, run.step, earlier + evaluations + 1, run.id, history, flat, message)
    if not warn:
        return result
    if still:
        log.warning("minimize: f gave the same value at x and at every probe x + mu u in all %d steps, so x did "
                    "not move (session %s): mu (now %.3g) is below what f resolves.  f gets x as float32: compute "
                    "in float64 (np.sum(..., dtype=np.float64)), or raise mu", len(history), run.id, run.mu)
    elif history and result.fun > history[0]:  # a run that ends worse than it began says so
        log.warning("minimize: f ended above where it began (%.6g at the first step, %.6g now, over %d steps; "
                    "session %s): near a minimum that is noise, and otherwise a smaller lr (now %.3g) or more "
                    "directions usually steadies a run", history[0], result.fun, len(history), run.id, run.lr)
    return result
