"""The attack commands of ``zoadamm-worker``:

    zoadamm-worker victim --model results/attack/victim.pt --port 8100
    zoadamm-worker attack --method art-square --victim http://127.0.0.1:8100 --images 20 \\
        --budget 10000 --norm inf --eps 0.2 --records runs/square.jsonl --json
    zoadamm-worker attack-report runs/*.jsonl --out runs/report

A failure (the victim not there or refusing, a bad model file, settings that cannot run)
prints one line and exits with status 1; --debug shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

from zoadamm_service.console import add_debug, at_least, positive, seed

from ..cli_options import given_path, http_url

# runner.RUNNERS, without importing ART to build the parser
METHODS = ("art-zoo", "art-square", "pgd", "zo-adamm", "zo-sgd", "zo-signsgd")
TRAIN_IMAGES, BATCH = 1000, 10  # --universal's defaults


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``victim``, ``attack`` and ``attack-report`` on ``zoadamm-worker``'s subparsers."""
    v = sub.add_parser("victim", help="serve a trained classifier over REST: probabilities only, queries counted",
                       description="Serve a model file over REST: POST /predict answers class probabilities.")
    v.add_argument("--model", type=given_path, required=True, help="a model file written by `mnist --save`")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on")
    v.add_argument("--port", type=positive(int), default=8100, help="port to listen on")
    v.add_argument("--max-batch", type=positive(int), default=None, help="images per request at most (default: 1024)")
    _common(v, _victim)

    a = sub.add_parser("attack", help="attack MNIST test images of the victim; one record per image",
                       description="Attack MNIST test images of a victim; one record per attacked image.")
    a.add_argument("--method", choices=METHODS, required=True, help="the attack")
    a.add_argument("--victim", type=http_url, default=None,
                   help="the victim's URL (black-box methods; PGD uses it to pick images) (default: none)")
    a.add_argument("--model", type=given_path, default=None, help="the model file (white-box pgd) (default: none)")
    a.add_argument("--images", type=positive(int), default=20, help="test images to consider, from --offset")
    a.add_argument("--offset", type=at_least(int, 0), default=0, help="the first test image")
    a.add_argument("--budget", type=positive(int), default=10_000, help="queries per image (PGD: forward passes)")
    a.add_argument("--norm", choices=("inf", "2"), default="inf", help="the ball's norm")
    a.add_argument("--eps", type=positive(float), required=True, help="radius of the perturbation ball")
    a.add_argument("--seed", type=seed, default=0, help="the attack's random seed")
    a.add_argument("--records", type=given_path, default=None,
                   help="append one JSON line per attacked image to this file (default: none)")
    a.add_argument("--examples", type=given_path, default=None,
                   help="write the original and final images to this .npz (default: none)")
    a.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    a.add_argument("--quiet", action="store_true", help="no line per image on stderr")
    _zo_options(a)
    _common(a, _attack)

    r = sub.add_parser("attack-report", help="the table and plots of attack records",
                       description="The table and the plots of `attack` records.")
    r.add_argument("records", nargs="+", help="records files (JSON lines) of `attack` runs")
    r.add_argument("--examples", nargs="*", default=[], help=".npz files of `attack --examples` (default: none)")
    r.add_argument("--out", required=True, help="folder for table.md, curves.png and examples.png")
    _common(r, _report)


def _zo_options(a: argparse.ArgumentParser) -> None:
    """The options of the zo-* methods: where their sessions live, the optimizer's settings."""
    from .zo_settings import DEFAULT_CONCURRENCY, DEFAULT_DIRECTIONS, DEFAULT_LR, DEFAULT_MU

    zo = a.add_argument_group("zo-* methods", "one optimizer session per image, on the service or in process")
    where = zo.add_mutually_exclusive_group()
    where.add_argument("--service", type=http_url, default=None,
                       help="URL of the zoadamm service that keeps the sessions (default: none)")
    where.add_argument("--in-process", action="store_true",
                       help="run the same loop on the core package alone, without a service")
    zo.add_argument("--mirror", action="store_true",
                    help="--service: keep the state here too and send each tell while the next step is measured")
    zo.add_argument("--lr", type=positive(float), default=None,
                    help="learning rate (default: the method's for the norm: " + "; ".join(
                        f"{norm}: " + ", ".join(f"{method} {lr:g}" for method, lr in rates.items())
                        for norm, rates in DEFAULT_LR.items()) + ")")
    zo.add_argument("--mu", type=positive(float), default=DEFAULT_MU,
                    help="smoothing radius of the estimates, in pixels")
    zo.add_argument("--directions", type=positive(int), default=DEFAULT_DIRECTIONS,
                    help="directions a step, q: 1 + q queries a step")
    zo.add_argument("--concurrency", type=positive(int), default=DEFAULT_CONCURRENCY,
                    help="images attacked at once, each on its own session")
    zo.add_argument("--universal", action="store_true",
                    help="one perturbation for all images (see --train-images); reports the fooling rate")
    zo.add_argument("--train-images", type=positive(int), default=TRAIN_IMAGES,
                    help="--universal: training images the perturbation is fitted on")
    zo.add_argument("--batch", type=positive(int), default=BATCH,
                    help="--universal: training images a loss evaluation averages over")


def _common(parser: argparse.ArgumentParser, command: Callable[[argparse.Namespace], int]) -> None:
    add_debug(parser)
    parser.set_defaults(run=lambda args: _one_line_errors(command, args), service=None)


def _one_line_errors(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    from ..cli_errors import failure_line
    from ..mnist import MnistError
    from ..threads import use_torch_threads
    from .victim_client import VictimError

    use_torch_threads(1)  # one core for this process: the victim and the attacker share the machine
    try:
        return command(args)
    except (VictimError, MnistError, ValueError, OSError) as error:
        if args.debug:
            raise
        line = (failure_line(error, None) if isinstance(error, OSError) else None) or str(error)
        print(f"zoadamm-worker {args.command}: {line} (--debug shows the traceback)", file=sys.stderr)
        return 1


def _victim(args: argparse.Namespace) -> int:
    import uvicorn

    from zoadamm_service.console import cannot_listen

    from ..model_file import load_model
    from .victim import DEFAULT_MAX_BATCH, create_app

    if wrong := cannot_listen(args.host, args.port):  # before "victim: ... at" says it serves there
        print(f"zoadamm-worker victim: {wrong}", file=sys.stderr)
        return 1
    app = create_app(load_model(args.model), max_batch=args.max_batch or DEFAULT_MAX_BATCH)
    print(f"victim: {args.model} at http://{args.host}:{args.port} (POST /predict; attack --victim takes this URL)",
          file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _attack(args: argparse.Namespace) -> int:
    from .runner import AttackSettings, run_attack

    settings = AttackSettings(method=args.method, norm=args.norm, eps=args.eps, budget=args.budget,
                              images=args.images, offset=args.offset, seed=args.seed,
                              victim=args.victim, model=args.model, service=args.service,
                              in_process=args.in_process, mirror=args.mirror, lr=args.lr, mu=args.mu,
                              directions=args.directions, concurrency=args.concurrency)
    if args.universal:
        return _universal(settings, args)
    given = [option for option, value, default in (("--train-images", args.train_images, TRAIN_IMAGES),
                                                    ("--batch", args.batch, BATCH)) if value != default]
    if given:
        raise ValueError(f"{', '.join(given)}: only with --universal")

    def line(row: dict) -> None:
        outcome = (f"fooled ({row['label']} -> {row['predicted']}) after {row['queries']} queries" if row["success"]
                   else f"not fooled in {row['queries']} queries")
        print(f"image {row['index']}: {outcome}, linf {row['linf']:.3f} l2 {row['l2']:.3f}", file=sys.stderr)

    def note(text: str) -> None:
        print(f"zoadamm-worker attack: {text}", file=sys.stderr)

    summary = run_attack(settings, args.records, args.examples, progress=None if args.quiet else line, note=note)
    print(json.dumps(summary) if args.json else summary_line(summary))
    return 0


def summary_line(summary: dict) -> str:
    """A run's summary in one line (``run_attack``'s dict)."""
    fooled = round((summary["success_rate"] or 0) * summary["attacked"])  # None: no image was attacked
    median = "" if summary["median_queries"] is None else f", median {summary['median_queries']:g} queries"
    return (f"{summary['method']} {summary['norm']} eps {summary['eps']:g}, budget {summary['budget']}: "
            f"{fooled} of {summary['attacked']} images fooled{median}; {summary['queries_total']} queries in all; "
            f"skipped as misclassified: {summary['skipped_misclassified'] or 'none'}")


def _universal(settings, args: argparse.Namespace) -> int:
    from ..records import append_record, check_writable
    from .outputs import examples_path, save_arrays
    from .runner import check_settings
    from .universal import UniversalRun, run_universal
    from .zo import largest_seed
    from .zo_settings import DEFAULT_CONCURRENCY, ZO_METHODS, ZoSettings

    if settings.method not in ZO_METHODS:
        raise ValueError(f"--universal takes the methods {', '.join(ZO_METHODS)}, not {settings.method}")
    check_settings(settings)
    most = largest_seed(settings)  # the one session's seed is --seed itself
    if settings.seed > most:
        raise ValueError(f"--seed {settings.seed}: past a session's largest seed ({most})")
    if settings.concurrency != DEFAULT_CONCURRENCY:
        raise ValueError("--concurrency: not with --universal, which fits one perturbation on one session")
    if args.quiet:
        raise ValueError("--quiet: not with --universal, which prints no line per image")
    zo = ZoSettings(settings.method, settings.lr, settings.mu, settings.directions, seed=settings.seed,
                    service=settings.service, mirror=settings.mirror)
    run = UniversalRun(settings.norm, settings.eps, settings.budget, args.train_images, args.batch,
                       settings.images, settings.offset)
    examples = None if args.examples is None else examples_path(args.examples)
    check_writable(args.records, examples, options=("--records", "--examples"))  # before the fit, not after it
    for path in (args.records, examples):  # a universal run is one δ: it has nothing to continue
        if path is not None and os.path.isfile(path) and os.path.getsize(path):
            raise ValueError(f"{path} holds an earlier run's output, and a universal run starts over: give another "
                             "file, or remove it")
    summary, records, delta = run_universal(zo, run, str(settings.victim))
    if args.records is not None:
        for row in records:
            append_record(args.records, row)
    if examples is not None:
        save_arrays(examples, delta=delta)
    if args.json:
        print(json.dumps(summary))
    else:
        fooled = round(summary["fooling_rate"] * summary["attacked"])
        print(f"{summary['method']} universal {summary['norm']} eps {summary['eps']:g}: fooled {fooled} of "
              f"{summary['attacked']} test images ({summary['fooling_rate']:.3f}) after {summary['queries_total']} "
              f"queries on {summary['train_images']} training images")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import write_report

    def note(line: str) -> None:
        print(f"zoadamm-worker attack-report: {line}", file=sys.stderr)

    for path in write_report(args.records, args.examples, args.out, note):
        print(path)
    return 0
