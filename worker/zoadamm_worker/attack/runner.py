"""One attack run: a method on the correctly classified images of a window of the test set,
each image attacked until its first success or its query budget, one record per image and a
summary.

A method is a runner in ``RUNNERS``: given the run's settings and its targets, it yields each
target's ``QueryWatch``.  The peers attack one image after the other; a runner may equally keep
many images in flight (one optimizer session per image) and yield them as they finish.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..records import append_record, check_writable
from .abortable import RunEnd
from .feasible import NORMS, PerturbationSet
from .objective import KAPPA, L2_PENALTY, ImageQueries, Target
from .outputs import examples_path, held, missing_examples, read_earlier, record_settings, save_examples
from .targets import REQUEST_IMAGES, SELECTION, load_test_images, select_targets
from .victim import SIDE
from .victim_client import VictimClient
from .watch import QueryWatch
from .zo import attack_one, check_image_seeds, in_flight
from .zo_settings import DEFAULT_CONCURRENCY, DEFAULT_DIRECTIONS, DEFAULT_LR, DEFAULT_MU, ZO_METHODS, ZoSettings


@dataclass(frozen=True)
class AttackSettings:
    """What a run attacks and with what: the same for every method compared."""

    method: str
    norm: str
    eps: float
    budget: int
    images: int = 20
    offset: int = 0
    seed: int = 0
    kappa: float = KAPPA
    c: float = L2_PENALTY
    victim: str | None = None  # URL: the black-box methods' only access to the model
    model: str | None = None  # file: white-box PGD's
    # the ZO methods': a service's URL, or in_process for the same loop on the core package alone
    service: str | None = None
    in_process: bool = False
    mirror: bool = False  # on the service: RemoteOptimizer's mirror and pipeline
    lr: float | None = None  # None: the method's default for the norm (DEFAULT_LR)
    mu: float = DEFAULT_MU
    directions: int = DEFAULT_DIRECTIONS
    concurrency: int = DEFAULT_CONCURRENCY  # images in flight at once


Runner = Callable[[AttackSettings, list[Target], str], Iterator[tuple[Target, QueryWatch]]]


def _black_box(attack: Callable[[ImageQueries, AttackSettings], None]) -> Runner:
    """A runner that attacks one image after the other through the victim."""

    def run(settings: AttackSettings, targets: list[Target], run_id: str) -> Iterator[tuple[Target, QueryWatch]]:
        with VictimClient(str(settings.victim)) as victim:  # check_settings: there is one
            for target in targets:
                feasible = PerturbationSet(target.image, settings.norm, settings.eps)
                queries = ImageQueries(victim.predict, target, feasible, settings.budget,
                                       tag=f"{run_id}/{target.tag}")
                attack(queries, settings)
                yield target, queries.watch

    return run


def _zoo(queries: ImageQueries, settings: AttackSettings) -> None:
    from .peers import run_zoo

    run_zoo(queries, settings.seed, settings.c)


def _square(queries: ImageQueries, settings: AttackSettings) -> None:
    from .peers import run_square

    run_square(queries, settings.seed)


def _pgd(settings: AttackSettings, targets: list[Target], run_id: str) -> Iterator[tuple[Target, QueryWatch]]:
    from ..model_file import load_model
    from .pgd import run_pgd

    classifier = load_model(str(settings.model))
    for target in targets:
        yield target, run_pgd(classifier, target, settings.norm, settings.eps, settings.budget, settings.seed)


def _zo(method: str) -> Runner:
    """A ZO runner: one optimizer session per image, ``settings.concurrency`` images in flight."""

    def run(settings: AttackSettings, targets: list[Target], run_id: str) -> Iterator[tuple[Target, QueryWatch]]:
        zo = ZoSettings(method, settings.lr, settings.mu, settings.directions, seed=settings.seed,
                        service=None if settings.in_process else settings.service, mirror=settings.mirror)

        def attack(target: Target, stop: RunEnd) -> QueryWatch:
            return attack_one(zo, target, settings.norm, settings.eps, settings.budget, str(settings.victim),
                              f"{run_id}/{target.tag}", stop=stop)

        yield from in_flight(attack, targets, settings.concurrency)

    return run


RUNNERS: dict[str, Runner] = {"art-zoo": _black_box(_zoo), "art-square": _black_box(_square), "pgd": _pgd,
                              **{method: _zo(method) for method in ZO_METHODS}}
WHITE_BOX = ("pgd",)  # the methods that read the model file; all others ask the victim
# the settings only the zo-* methods read, by the option that gives them
ZO_OPTIONS = {"service": "--service", "in_process": "--in-process", "mirror": "--mirror", "lr": "--lr",
              "mu": "--mu", "directions": "--directions", "concurrency": "--concurrency"}


def check_settings(settings: AttackSettings) -> None:
    """Raises ValueError naming the first setting that cannot run."""
    if settings.method not in RUNNERS:
        raise ValueError(f"method must be one of {sorted(RUNNERS)}, got {settings.method!r}")
    if settings.norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {settings.norm!r}")
    for name in ("eps", "budget", "images", "mu", "directions", "concurrency"):
        if not getattr(settings, name) > 0:
            raise ValueError(f"{name} must be positive, got {getattr(settings, name)!r}")
    if settings.method in WHITE_BOX and settings.model is None:
        raise ValueError(f"{settings.method} is white-box: give the model file")
    if settings.method not in WHITE_BOX and settings.victim is None:
        raise ValueError(f"{settings.method} attacks through the victim: give its URL")
    farthest = {"inf": 1.0, "2": float(np.sqrt(SIDE * SIDE))}[settings.norm]  # pixels lie in [0, 1]
    for name in ("eps", "mu") if settings.method in ZO_METHODS else ("eps",):  # mu: how far a probe moves
        if getattr(settings, name) > farthest:
            raise ValueError(f"{name} {getattr(settings, name):g} is beyond the farthest any image of pixels in [0, 1] "
                             f"can move in the {settings.norm} norm ({farthest:g}): {name} is in pixel units, so "
                             "8/255 is 0.0314")
    if settings.lr is not None and not settings.lr > 0:
        raise ValueError(f"lr must be positive, got {settings.lr!r}")
    if settings.method in ZO_METHODS and (settings.service is None) == (not settings.in_process):
        raise ValueError(f"{settings.method} runs on a service's sessions or in process: give either the "
                         "service's URL (--service) or --in-process")
    if settings.method in ZO_METHODS and settings.directions + 1 > REQUEST_IMAGES:
        raise ValueError(f"--directions {settings.directions}: a step asks the victim about its 1 + q = "
                         f"{settings.directions + 1} points in one request, and a request carries at most "
                         f"{REQUEST_IMAGES} images: give --directions {REQUEST_IMAGES - 1} or fewer")
    if settings.method in ZO_METHODS and settings.budget < settings.directions + 1:
        raise ValueError(f"a budget of {settings.budget} queries cannot pay for one step of {settings.method}, "
                         f"which costs {settings.directions + 1} (f at the point and at its {settings.directions} "
                         "probes: --directions): raise --budget or lower --directions")
    refuse_ignored(settings)


def refuse_ignored(settings: AttackSettings) -> None:
    """Raises ValueError naming a setting given (other than its default) that the run would
    ignore: a summary that lists it would claim a run that was not made."""
    defaults = AttackSettings(settings.method, settings.norm, settings.eps, settings.budget)
    given = [name for name in ZO_OPTIONS if getattr(settings, name) != getattr(defaults, name)]
    if settings.method not in ZO_METHODS and given:
        raise ValueError(f"{', '.join(ZO_OPTIONS[name] for name in given)}: only for the zo-* methods; "
                         f"{settings.method} would ignore {'it' if len(given) == 1 else 'them'}")
    if settings.method not in WHITE_BOX and settings.model is not None:
        raise ValueError(f"--model: only for white-box pgd; {settings.method} knows the victim only by its "
                         "answers (--victim)")
    if settings.mirror and settings.service is None:
        raise ValueError("--mirror: only with --service, whose sessions it mirrors; in process the state is "
                         "here already")


def choose_targets(settings: AttackSettings, run_id: str) -> tuple[list[Target], list[int]]:
    """The run's targets and the indices skipped as misclassified, judged by the victim (requests
    of REQUEST_IMAGES at most, tagged ``<run_id>/selection``) or, for white-box runs without one,
    by the model file."""
    images, labels = load_test_images(settings.offset, settings.images)
    if settings.victim is not None:
        with VictimClient(settings.victim) as victim:
            return select_targets(settings.offset, images, labels,
                                  lambda batch: victim.predict(batch, f"{run_id}/{SELECTION}").probabilities)
    import torch

    from ..model_file import load_model

    classifier = load_model(str(settings.model))
    with torch.inference_mode():
        return select_targets(settings.offset, images, labels,
                              lambda batch: classifier(torch.from_numpy(batch).reshape(-1, 1, 28, 28)).numpy())


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a run; says what was kept of it and where."""


def run_attack(settings: AttackSettings, records: str | Path | None = None,
               examples: str | Path | None = None, progress: Callable[[dict], None] | None = None,
               note: Callable[[str], None] | None = None) -> dict:
    """Run ``settings``; returns the summary.  ``records``: one JSON line per attacked image is
    appended there as it finishes; the images it records of the same settings already are not
    attacked again (the run continues, see ``outputs``).  ``examples``: an ``.npz`` of every
    attacked image's original and final image (adversarial, or the best point of a failure),
    rewritten as each image ends when there are ``records``, else once at the end of the run.
    ``note`` gets a line when the run continues an earlier one (and one naming the recorded
    images the examples file lacks).

    Raises:
        ValueError: settings that cannot run (see ``check_settings``), images outside the test
            set, records or examples of the same run under other settings (``read_earlier``).
        VictimError: the victim refused a request or is not reachable.
        Interrupted: Ctrl-C; its message says what was kept.
    """
    check_settings(settings)
    check_image_seeds(settings)  # a run of images (a universal run has one seed, its own)
    examples = None if examples is None else examples_path(examples)
    # a path that cannot be written fails before the first query, named by its option
    check_writable(records, examples, options=("--records", "--examples"))
    with held(records, examples):  # a second run on the same records would attack and record the same images
        return _run(settings, records, examples, progress, note)


def _run(settings: AttackSettings, records: str | Path | None, examples: Path | None,
         progress: Callable[[dict], None] | None, note: Callable[[str], None] | None) -> dict:
    run = record_settings(settings)
    earlier = read_earlier(records, examples, run)
    started = time.perf_counter()
    run_id = secrets.token_hex(4)  # the victim's tags of this run: <run_id>/image-<index>
    targets, skipped = choose_targets(settings, run_id)
    rows = [earlier.rows[target.index] for target in targets if target.index in earlier.rows]
    if rows and note is not None:
        note(f"continuing the run recorded in {records}: {len(rows)} of its {len(targets)} images are recorded "
             "already")
        missing = missing_examples(rows, examples, earlier)
        if missing is not None:
            note(missing)
    finals: dict = {}

    def save() -> None:
        if examples is not None:
            save_examples(examples, run, rows, finals, earlier.examples)

    try:  # with records, each image's example is written as it ends: a killed run keeps them as its records
        _attack_all(settings, [t for t in targets if t.index not in earlier.rows], run_id, rows, finals, records,
                    progress, save if records is not None and examples is not None else None)
    except KeyboardInterrupt as stop:
        if records is None:
            raise Interrupted(f"{len(finals)} images were attacked, and nothing is kept without --records") from stop
        kept = len(earlier.rows) + len(finals)
        raise Interrupted(f"the records of {kept} images of this run are kept in {records}"
                          f"{f' (their examples in {examples})' if examples is not None else ''}; "
                          "the same command continues it") from stop
    if records is None and finals:  # nothing says which images a file holds: it is written whole or not at all
        save()
    return {**summarize(rows, settings, skipped, time.perf_counter() - started), "continued": len(rows) - len(finals)}


def _attack_all(settings: AttackSettings, targets: list[Target], run_id: str, rows: list[dict], finals: dict,
                records: str | Path | None, progress: Callable[[dict], None] | None,
                save: Callable[[], None] | None) -> None:
    """Every target's attack; each finished image's record appended to ``rows`` (and ``records``),
    its example saved first (``save``): a run killed between the two has an example more, which
    the next run writes over, never a record without its example."""
    run = record_settings(settings)
    for target, watch in RUNNERS[settings.method](settings, targets, run_id):
        outcome = watch.outcome()
        row = {**run, "index": target.index, "label": target.label, **outcome.record(), "spent": watch.counted}
        rows.append(row)
        finals[target.index] = (target.image, target.image + outcome.delta)
        if save is not None:
            save()
        if records is not None:
            append_record(records, row)
        if progress is not None:
            progress(row)


def summarize(rows: list[dict], settings: AttackSettings, skipped: list[int], seconds: float) -> dict:
    """The run's summary.  ``median_queries`` and the mean distortions are over the successes;
    ``queries_total`` is every query the victim counted for the run's images (a success's
    batch may hold images after the adversarial one), the selection request not included."""
    wins = [row for row in rows if row["success"]]

    def over_wins(statistic, key: str) -> float | None:
        return float(statistic([row[key] for row in wins])) if wins else None

    # the settings the method used: a summary that listed the others would claim a run that was not made
    unused = set() if settings.method in ZO_METHODS else set(ZO_OPTIONS)
    if settings.method not in WHITE_BOX:
        unused.add("model")
    chosen = {name: value for name, value in asdict(settings).items() if name not in unused}
    if settings.method in ZO_METHODS and settings.lr is None:  # the summary names the lr the run used
        chosen["lr"] = DEFAULT_LR[settings.norm][settings.method]
    return {
        **chosen, "attacked": len(rows), "skipped_misclassified": skipped,
        "success_rate": len(wins) / len(rows) if rows else None,
        "median_queries": over_wins(np.median, "queries"),
        "mean_linf": over_wins(np.mean, "linf"), "mean_l2": over_wins(np.mean, "l2"),
        "queries_total": int(sum(row["spent"] for row in rows)), "seconds": round(seconds, 2),
    }
