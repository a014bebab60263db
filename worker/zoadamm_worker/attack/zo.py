"""The ZO attacks: ZO-AdaMM, ZO-SGD and ZO-signSGD on one optimizer session per image.

The session's x is the perturbation δ (starting at 0) and its feasible set X is the attack's
ball of radius ε intersected with the pixel box [−x₀, 1 − x₀]: the optimizer's own projection
keeps every iterate in X, and ``PerturbationSet`` moves a probe δ + μu that leaves X back in
before the victim sees it.  Each step is one victim request of 1 + q images
(``AttackObjective.zo_losses``) and one tell; an image stops at its first success or when the
budget cannot pay for another step.

The same loop runs on a service session (``RemoteOptimizer``: the service keeps the state and
applies the update) or in process (``LocalSession``: the core package's ``Optimizer``, no
HTTP).  Both apply the same update to the same bits, so a run is the same attack either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from typing import Protocol

import numpy as np

from zoadamm import Ball, Box, FeasibleSet, Optimizer, SessionConfig, StepDirections
from zoadamm.wire import SAFE_INT

from .abortable import RunEnd
from .feasible import PerturbationSet
from .objective import AttackObjective, ImageQueries, ProbeLosses, Target
from .victim_client import VictimClient
from .watch import QueryWatch, Stop
from .zo_settings import ZO_METHODS, ZoSettings


def image_constraint(origin: np.ndarray, norm: str, eps: float) -> FeasibleSet:
    """X for the image ``origin``: the ball ‖δ‖ ≤ ε of ``norm`` ∩ the pixel box [−x₀, 1 − x₀]."""
    origin = np.asarray(origin, dtype=np.float32)
    return FeasibleSet(box=Box(-origin, 1 - origin), ball=Ball(norm, 0.0, eps))


def image_seed(seed: int, index: int) -> int:
    """The directions' seed of test image ``index`` in a run seeded ``seed`` (as the peers seed ART)."""
    return seed * 100_003 + index


def largest_seed(settings) -> int:
    """A session's largest seed: the core's 2**64 - 1 in process; over HTTP, JSON's exact whole numbers."""
    return 2**64 - 1 if settings.in_process else SAFE_INT


def check_image_seeds(settings) -> None:
    """Raises ValueError when the zo-* methods' seed of the window's last image (``settings``: a
    runner.AttackSettings) is past what a session takes: found before the victim is asked, not
    after, in a number the user never gave."""
    if settings.method not in ZO_METHODS:
        return
    most = largest_seed(settings)
    last = settings.offset + settings.images - 1
    if image_seed(settings.seed, last) > most:
        raise ValueError(f"--seed {settings.seed}: image {last}'s directions would be seeded seed * 100003 + {last}"
                         f", past a session's largest seed ({most}): give --seed "
                         f"{max(0, (most - last) // 100_003)} or less")


class Session(Protocol):
    """What the loop needs of a session: ``RemoteOptimizer`` and ``LocalSession`` both have it."""

    @property
    def x(self) -> np.ndarray: ...
    @property
    def mu(self) -> float: ...
    @property
    def step(self) -> int: ...

    def directions(self) -> np.ndarray: ...
    def tell(self, f_x=None, f_plus=None, f_minus=None) -> np.ndarray: ...


class LocalSession:
    """A session held in this process: the core's ``Optimizer`` and the same directions."""

    def __init__(self, config: SessionConfig, x0: np.ndarray) -> None:
        self.optimizer = Optimizer.start(config, x0)
        self._directions = StepDirections(config.seed, config.directions, config.dim, config.distribution)

    @property
    def x(self) -> np.ndarray:
        return self.optimizer.state.x

    @property
    def mu(self) -> float:
        return self.optimizer.mu

    @property
    def step(self) -> int:
        return self.optimizer.step

    def directions(self) -> np.ndarray:
        return self._directions.all(self.step)

    def tell(self, f_x=None, f_plus=None, f_minus=None) -> np.ndarray:
        record = self.optimizer.zo_record(f_x, f_plus, f_minus)
        self.optimizer.apply(record, directions=self._directions.held(self.step))
        return self.x


def run_loop(session: Session, objective: ProbeLosses, difference: str = "forward",
             seen: Callable[[np.ndarray], None] | None = None) -> None:
    """Step ``session`` on ``objective`` until the first success or until the budget cannot pay
    for a whole step.  ``seen`` gets each iterate δ the step starts from."""
    while not objective.done:
        if seen is not None:
            seen(np.array(session.x))
        try:
            f_x, f_plus, f_minus = objective.zo_losses(session.x, session.directions(), session.mu, difference)
        except Stop:
            return
        if objective.succeeded:  # a tell would only move past the adversarial point
            return
        session.tell(f_x, f_plus, f_minus)


@contextmanager
def open_session(zo: ZoSettings, config: SessionConfig, x0: np.ndarray) -> Iterator[Session]:
    """A session of ``config`` at ``x0``: on the service (deleted after) or in process."""
    if zo.service is None:
        yield LocalSession(config, x0)
        return
    from zoadamm import Client, RemoteOptimizer

    with Client(zo.service) as client:
        settings = {k: v for k, v in config.to_dict().items() if k not in ("dim", "constraint")}
        # the constraint's vectors inline in its JSON: 784 numbers, exact as float32 in decimal
        constraint = None if config.constraint is None else config.constraint.to_dict(inline=True)
        remote = RemoteOptimizer.create(client, x0, mirror=zo.mirror, pipeline=zo.mirror, constraint=constraint,
                                        **settings)
        try:
            yield remote
        finally:
            remote.close()
            client.sessions.delete(remote.id)


class Abandoned(Exception):
    """An image's attack given up before its next query: the run is over (Ctrl-C, or another
    image failed), and the images still in flight send nothing more."""


def attack_one(zo: ZoSettings, target: Target, norm: str, eps: float, budget: int, victim: str,
               tag: str, seen: Callable[[np.ndarray], None] | None = None,
               stop: RunEnd | None = None) -> QueryWatch:
    """One image's ZO attack through the victim at ``victim``, its queries tagged ``tag``;
    ``stop`` set, it raises Abandoned instead of sending its next query."""
    constraint = image_constraint(target.image, norm, eps)
    config = zo.session_config(target.image.size, norm, constraint, image_seed(zo.seed, target.index))
    with VictimClient(victim) as client, stop.watching(client) if stop is not None else nullcontext(), \
            open_session(zo, config, np.zeros_like(target.image)) as session:
        def ask(images: np.ndarray, tag: str | None):
            if stop is not None and stop.is_set():
                raise Abandoned(f"image {target.index}")
            return client.predict(images, tag)

        queries = ImageQueries(ask, target, PerturbationSet(target.image, norm, eps), budget, tag=tag)
        run_loop(session, AttackObjective(queries), zo.difference, seen)
        return queries.watch


def in_flight(work: Callable[[Target, RunEnd], QueryWatch], targets: list[Target],
              concurrency: int) -> Iterator[tuple[Target, QueryWatch]]:
    """``work(target, stop)`` on every target, ``concurrency`` at a time in threads; yields each
    as it finishes.  When the run ends early (Ctrl-C, a failure, the caller stops reading),
    ``stop`` is set, so the images in flight send no further query and the victim's answers they
    wait for are cut off, and the first failure is raised once their threads have ended."""
    pending = iter(targets)
    running: dict[Future, Target] = {}
    stop = RunEnd()
    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="zo-attack")

    def submit_next() -> None:
        target = next(pending, None)
        if target is not None:
            running[pool.submit(work, target, stop)] = target

    try:
        for _ in range(concurrency):
            submit_next()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                target = running.pop(future)
                yield target, future.result()
                submit_next()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)

